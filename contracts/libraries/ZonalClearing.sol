// SPDX-License-Identifier: MIT
pragma solidity 0.8.30;

import {IBatchAuction} from "../interfaces/IBatchAuction.sol";

/// @title ZonalClearing
/// @notice Clears a call market of several zones from its price levels: the system price is the midpoint of the
/// interval of prices at which the capacity-clamped net exports can balance; a zone whose capacity binds at that
/// price gets its own price, the midpoint of the prices at which it exports (imports) exactly its capacity.
/// Mirrors `src/market/clearing.ts` exactly (docs/auction.md); the tests hold the two to equality.
/// @dev Linear in the number of price levels: one sweep over all levels in ascending price finds the system
/// price (each level changes only its own zone's term of the sums), one more finds every congested zone's price,
/// and two more give every zone's position at the system price and at its own price: O(levels + zones).
library ZonalClearing {
    /// @notice The zones' net exports do not sum to zero (never expected: the auction cannot clear and goes void).
    /// @param netExportSumWh Σ of the zones' net exports, Wh (not zero).
    error ZonalClearingUnbalanced(int256 netExportSumWh);

    /// @notice The book as price levels. Zones are indexed 0..n-1 (the caller's order, ascending zone id); levels
    /// are sorted by ascending price, at most one per (zone, price).
    struct Book {
        uint256[] exportCapWh;
        uint256[] importCapWh;
        uint256[] totalSell;
        uint256[] totalBuy;
        uint256[] prices;
        uint256[] zoneOf;
        uint256[] sells;
        uint256[] buys;
    }

    /// @notice A zone's result, as stored: its price, how much of its at-price levels filled, and what its buyers
    /// bought (its sellers sold `boughtWh + netExportWh`).
    // Two slots: four uint64 in the first, the rest in the second (the rule counts enums as full words).
    // solhint-disable-next-line gas-struct-packing
    struct ZoneOutcome {
        uint64 price;
        uint64 sellAtPriceWh;
        uint64 sellAtPriceFilledWh;
        uint64 buyAtPriceWh;
        uint64 buyAtPriceFilledWh;
        uint64 boughtWh;
        int96 netExportWh;
        IBatchAuction.Congestion congestion;
        bool listed;
    }

    /// @dev Every zone's position at a price per zone: sells strictly below and at it, buys strictly above and at.
    struct Positions {
        uint256[] sellBelow;
        uint256[] sellAt;
        uint256[] buyAbove;
        uint256[] buyAt;
    }

    /// @notice Clears `b` within [floor, ceiling] (every level's price lies within).
    /// @return systemPrice The uncongested zones' price.
    /// @return outcomes Per zone index.
    /// @return tradedWh Energy bought (= sold).
    /// @return congestionRent Σ buyers' payments − Σ sellers' receipts, in price × Wh (÷ 1000: base units).
    function clear(
        Book memory b,
        uint256 floor,
        uint256 ceiling
    )
        internal
        pure
        returns (uint64 systemPrice, ZoneOutcome[] memory outcomes, uint64 tradedWh, uint256 congestionRent)
    {
        uint256 n = b.exportCapWh.length;
        systemPrice = uint64(_systemPrice(b, floor, ceiling));
        outcomes = new ZoneOutcome[](n);
        uint256[] memory at = new uint256[](n);
        for (uint256 z = 0; z < n; ++z) at[z] = systemPrice;
        _classifyAll(b, _positions(b, at), outcomes, systemPrice, floor, ceiling);
        for (uint256 z = 0; z < n; ++z) at[z] = outcomes[z].price;
        Positions memory pos = _positions(b, at);
        int256 rent;
        int256 net;
        for (uint256 z = 0; z < n; ++z) {
            tradedWh += uint64(_fillAtPrice(pos, z, outcomes[z]));
            net += outcomes[z].netExportWh;
            // Σ over the zone of (bought − sold) × price = −netExport × price; ≥ 0 summed over zones.
            rent -= int256(outcomes[z].netExportWh) * int256(uint256(outcomes[z].price));
        }
        if (net != 0) revert ZonalClearingUnbalanced(net);
        congestionRent = uint256(rent);
    }

    /// @dev Midpoint of Λ = { p : Σ clamp(E⁻(p)) ≤ 0 ≤ Σ clamp(E⁺(p)) } over the level prices and the bounds.
    /// `e[z]` is zone z's net export in the gap below the current price; a level moves only its own zone's term.
    function _systemPrice(Book memory b, uint256 floor, uint256 ceiling) private pure returns (uint256) {
        int256[] memory e = new int256[](b.exportCapWh.length);
        int256 gap;
        for (uint256 z = 0; z < e.length; ++z) {
            e[z] = -int256(b.totalBuy[z]);
            gap += _clamp(e[z], b, z);
        }
        bool haveLo;
        uint256 lo;
        uint256 hi = floor;
        uint256 p = floor;
        uint256 i;
        while (true) {
            // Σ clamp(E⁻(p)) is `gap`; Σ clamp(E⁺(p)) adds what the levels at p move.
            int256 sumHi;
            (sumHi, i) = _addLevelsAt(b, e, i, p);
            sumHi += gap;
            if (!haveLo && sumHi >= 0) {
                haveLo = true;
                lo = p;
            }
            // Σ clamp(E⁻) never decreases: once above zero, `hi` is final.
            if (gap > 0) break;
            hi = p;
            gap = sumHi;
            if (p == ceiling) break;
            p = i < b.prices.length ? b.prices[i] : ceiling;
        }
        return (lo + hi) / 2;
    }

    /// @dev Adds the levels at price `p` (from index `i`) to their zones' net exports `e`; returns the change of
    /// Σ clamp(e) and the index after them.
    function _addLevelsAt(
        Book memory b,
        int256[] memory e,
        uint256 i,
        uint256 p
    ) private pure returns (int256 delta, uint256 next) {
        while (i < b.prices.length && b.prices[i] == p) {
            uint256 z = b.zoneOf[i];
            int256 before = _clamp(e[z], b, z);
            e[z] += int256(b.sells[i] + b.buys[i]);
            delta += _clamp(e[z], b, z) - before;
            ++i;
        }
        return (delta, i);
    }

    /// @dev Every congested zone's price, in one sweep over the levels: the midpoint of
    /// { p : E⁻(p) ≤ target ≤ E⁺(p) } over the zone's own level prices and the bounds, where the target is the
    /// zone's net export at its capacity. E⁻ and E⁺ never decrease with p, so the lower end is the first candidate
    /// price with E⁺ ≥ target and the upper end the last with E⁻ ≤ target (the floor when none): candidates may be
    /// visited twice at the same price (the bounds as gaps and as levels) without changing either end.
    function _zonePrices(Book memory b, ZoneOutcome[] memory outcomes, uint256 floor, uint256 ceiling) private pure {
        uint256 n = outcomes.length;
        int256[] memory e = new int256[](n);
        uint256[] memory lo = new uint256[](n);
        uint256[] memory hi = new uint256[](n);
        bool[] memory haveLo = new bool[](n);
        for (uint256 z = 0; z < n; ++z) {
            e[z] = -int256(b.totalBuy[z]);
            hi[z] = floor;
            if (outcomes[z].congestion != IBatchAuction.Congestion.None) {
                _candidate(outcomes[z].netExportWh, floor, e[z], e[z], z, lo, hi, haveLo);
            }
        }
        for (uint256 i = 0; i < b.prices.length; ++i) {
            uint256 z = b.zoneOf[i];
            if (outcomes[z].congestion == IBatchAuction.Congestion.None) continue;
            int256 eLo = e[z];
            e[z] = eLo + int256(b.sells[i] + b.buys[i]);
            _candidate(outcomes[z].netExportWh, b.prices[i], eLo, e[z], z, lo, hi, haveLo);
        }
        for (uint256 z = 0; z < n; ++z) {
            if (outcomes[z].congestion == IBatchAuction.Congestion.None) continue;
            _candidate(outcomes[z].netExportWh, ceiling, e[z], e[z], z, lo, hi, haveLo);
            outcomes[z].price = uint64((lo[z] + hi[z]) / 2);
        }
    }

    /// @dev Zone `z`'s candidate price `p` with net exports `eLo` just below and `eHi` at it.
    function _candidate(
        int256 target,
        uint256 p,
        int256 eLo,
        int256 eHi,
        uint256 z,
        uint256[] memory lo,
        uint256[] memory hi,
        bool[] memory haveLo
    ) private pure {
        if (!haveLo[z] && eHi >= target) {
            haveLo[z] = true;
            lo[z] = p;
        }
        if (eLo <= target) hi[z] = p;
    }

    /// @dev Every zone's congestion, price and net export (the uncongested ones sharing the slack).
    function _classifyAll(
        Book memory b,
        Positions memory pos,
        ZoneOutcome[] memory outcomes,
        uint256 systemPrice,
        uint256 floor,
        uint256 ceiling
    ) private pure {
        uint256 n = outcomes.length;
        int256[] memory lo = new int256[](n);
        int256[] memory width = new int256[](n);
        int256 congested;
        for (uint256 z = 0; z < n; ++z) {
            ZoneOutcome memory o = outcomes[z];
            (lo[z], width[z]) = _classify(b, z, pos, o, systemPrice);
            if (o.congestion != IBatchAuction.Congestion.None) congested += o.netExportWh;
        }
        _zonePrices(b, outcomes, floor, ceiling);
        _shareSlack(outcomes, lo, width, congested);
    }

    /// @dev Sets zone `z`'s congestion at the system price (and, if congested, its net export); for an uncongested
    /// zone sets the system price and returns the lower end and width of its clamped net-export interval.
    function _classify(
        Book memory b,
        uint256 z,
        Positions memory pos,
        ZoneOutcome memory o,
        uint256 systemPrice
    ) private pure returns (int256 lo, int256 width) {
        int256 eLo = int256(pos.sellBelow[z]) - int256(pos.buyAbove[z] + pos.buyAt[z]);
        int256 eHi = int256(pos.sellBelow[z] + pos.sellAt[z]) - int256(pos.buyAbove[z]);
        o.listed = true;
        if (eLo > int256(b.exportCapWh[z])) {
            o.congestion = IBatchAuction.Congestion.Export;
            o.netExportWh = int96(int256(b.exportCapWh[z]));
        } else if (eHi < -int256(b.importCapWh[z])) {
            o.congestion = IBatchAuction.Congestion.Import;
            o.netExportWh = -int96(int256(b.importCapWh[z]));
        } else {
            o.price = uint64(systemPrice);
            lo = _clamp(eLo, b, z);
            width = _clamp(eHi, b, z) - lo;
        }
    }

    /// @dev Every zone's position at its price `at[z]`, in one sweep over the levels.
    function _positions(Book memory b, uint256[] memory at) private pure returns (Positions memory pos) {
        uint256 n = at.length;
        pos.sellBelow = new uint256[](n);
        pos.sellAt = new uint256[](n);
        pos.buyAbove = new uint256[](n);
        pos.buyAt = new uint256[](n);
        for (uint256 i = 0; i < b.prices.length; ++i) {
            uint256 z = b.zoneOf[i];
            uint256 p = b.prices[i];
            if (p < at[z]) pos.sellBelow[z] += b.sells[i];
            else if (p == at[z]) {
                pos.sellAt[z] = b.sells[i];
                pos.buyAt[z] = b.buys[i];
            } else pos.buyAbove[z] += b.buys[i];
        }
    }

    /// @dev Uncongested zones' net exports: the lower ends plus the slack shared by width, cumulative rounding.
    function _shareSlack(
        ZoneOutcome[] memory outcomes,
        int256[] memory lo,
        int256[] memory width,
        int256 congested
    ) private pure {
        int256 slack = -congested;
        int256 totalWidth;
        for (uint256 z = 0; z < outcomes.length; ++z) {
            if (outcomes[z].congestion != IBatchAuction.Congestion.None) continue;
            slack -= lo[z];
            totalWidth += width[z];
        }
        int256 cum;
        for (uint256 z = 0; z < outcomes.length; ++z) {
            if (outcomes[z].congestion != IBatchAuction.Congestion.None) continue;
            int256 share;
            if (totalWidth > 0) {
                int256 before = (cum * slack) / totalWidth;
                cum += width[z];
                share = (cum * slack) / totalWidth - before;
            }
            outcomes[z].netExportWh = int96(lo[z] + share);
        }
    }

    /// @dev Fills zone `z`'s at-price levels as much as possible given its net export; returns Wh bought.
    function _fillAtPrice(Positions memory pos, uint256 z, ZoneOutcome memory o) private pure returns (uint256) {
        // at-price sells − at-price buys that the net export leaves
        int256 k = int256(o.netExportWh) - (int256(pos.sellBelow[z]) - int256(pos.buyAbove[z]));
        int256 sellAt = int256(pos.sellAt[z]);
        int256 sellFilled = sellAt < int256(pos.buyAt[z]) + k ? sellAt : int256(pos.buyAt[z]) + k;
        o.sellAtPriceWh = uint64(pos.sellAt[z]);
        o.buyAtPriceWh = uint64(pos.buyAt[z]);
        o.sellAtPriceFilledWh = uint64(uint256(sellFilled));
        o.buyAtPriceFilledWh = uint64(uint256(sellFilled - k));
        o.boughtWh = uint64(pos.buyAbove[z] + o.buyAtPriceFilledWh);
        return o.boughtWh;
    }

    function _clamp(int256 x, Book memory b, uint256 z) private pure returns (int256) {
        if (x > int256(b.exportCapWh[z])) return int256(b.exportCapWh[z]);
        if (x < -int256(b.importCapWh[z])) return -int256(b.importCapWh[z]);
        return x;
    }
}
