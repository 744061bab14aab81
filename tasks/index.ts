import { emptyTask, task } from "hardhat/config";
import { ArgumentType } from "hardhat/types/arguments";

/** Every Microgrid Exchange task. Definitions only: the work is in `src/ops`, the printing in `tasks/*.ts`. */
export const microgridTasks = [
  task(
    "deploy",
    "Deploy Governance, MeterRegistry, ReadingOracle, KwhToken, RecToken, BatchAuction, SettlementEscrow and DealDesk; write deployments/<network>.json",
  )
    .addOption({
      name: "intervalLength",
      description: "Delivery interval, seconds",
      type: ArgumentType.INT,
      defaultValue: 900,
    })
    .addOption({
      name: "relayers",
      description: "Comma-separated committee addresses (default: accounts 1..3)",
      defaultValue: "",
    })
    .addOption({
      name: "threshold",
      description: "Identical votes that finalise a root",
      type: ArgumentType.INT,
      defaultValue: 2,
    })
    .addOption({
      name: "settlementWindow",
      description: "Seconds after an interval's end its kWh stay transferable",
      type: ArgumentType.INT,
      defaultValue: 86_400,
    })
    .addOption({ name: "admin", description: "Final ADMIN_ROLE holder (default: deployer)", defaultValue: "" })
    .addOption({
      name: "adminDelay",
      description: "Execution delay on admin powers, seconds",
      type: ArgumentType.INT,
      defaultValue: 0,
    })
    .addOption({
      name: "paymentToken",
      description: "The market's 6-decimal stablecoin (default: deploy a MockStablecoin)",
      defaultValue: "",
    })
    .addOption({
      name: "floorFeed",
      description: "Chainlink feed of the feed-in tariff per kWh (default: a mock at 0.05)",
      defaultValue: "",
    })
    .addOption({
      name: "ceilingFeed",
      description: "Chainlink feed of the retail tariff per kWh (default: a mock at 0.40)",
      defaultValue: "",
    })
    .addOption({ name: "treasury", description: "Receives non-reveal penalties (default: deployer)", defaultValue: "" })
    .addOption({
      name: "out",
      description: "Deployments folder (default: deployments, or $DEPLOYMENTS_DIR)",
      defaultValue: "",
    })
    .setAction(() => import("./deploy.js"))
    .build(),

  emptyTask("deployment", "The recorded deployment (deployments/<network>.json): explorer verification").build(),
  task(["deployment", "verify"], "Verify every deployed contract's source on the network's explorers (hardhat-verify)")
    .addOption({
      name: "provider",
      defaultValue: "",
      description: "blockscout, etherscan and/or sourcify, comma-separated (default: those configured for the chain)",
    })
    .addOption({ name: "contract", defaultValue: "", description: "Only these contracts, comma-separated" })
    .addFlag({ name: "dryRun", description: "Check the code on chain and print the requests; send nothing" })
    .addFlag({ name: "force", description: "Verify again contracts an explorer already shows as verified" })
    .addFlag({ name: "json", description: "Print the requests as JSON" })
    .setAction(() => import("./verify.js"))
    .build(),

  emptyTask("meter", "Register, list and revoke meters; configure zones").build(),
  task(["meter", "zone"], "Create a zone or change its capacities")
    .addOption({ name: "zone", type: ArgumentType.INT, defaultValue: 0, description: "Zone id (>= 1)" })
    .addOption({
      name: "exportCapacity",
      type: ArgumentType.BIGINT,
      defaultValue: 0n,
      description: "Net export capacity, W",
    })
    .addOption({
      name: "importCapacity",
      type: ArgumentType.BIGINT,
      defaultValue: 0n,
      description: "Net import capacity, W",
    })
    .setAction(() => import("./meter.js").then((m) => ({ default: m.zone })))
    .build(),
  task(["meter", "register"], "Register a meter key, or every meter of a JSON file")
    .addOption({ name: "meter", defaultValue: "", description: "Meter signing-key address" })
    .addOption({ name: "owner", defaultValue: "", description: "Owner wallet" })
    .addOption({ name: "zone", type: ArgumentType.INT, defaultValue: 0, description: "Zone id" })
    .addOption({ name: "technology", defaultValue: "solar", description: "solar, wind, battery or load-only" })
    .addOption({ name: "capacity", type: ArgumentType.BIGINT, defaultValue: 0n, description: "Rated capacity, W" })
    .addFlag({ name: "recEligible", description: "Export earns renewable certificates" })
    .addOption({
      name: "accreditationExpiry",
      type: ArgumentType.BIGINT,
      defaultValue: 0n,
      description: "Unix time the REC accreditation lapses",
    })
    .addOption({
      name: "file",
      defaultValue: "",
      description: "JSON array of meters (the simulator's registration file)",
    })
    .setAction(() => import("./meter.js").then((m) => ({ default: m.register })))
    .build(),
  task(["meter", "list"], "List every registered meter")
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./meter.js").then((m) => ({ default: m.list })))
    .build(),
  task(["meter", "revoke"], "Revoke a meter key for good")
    .addOption({ name: "meter", defaultValue: "", description: "Meter signing-key address" })
    .setAction(() => import("./meter.js").then((m) => ({ default: m.revoke })))
    .build(),
  task(["meter", "revoke-accreditation"], "End a meter's REC accreditation (ISSUER role); issued certificates stay")
    .addOption({ name: "meter", defaultValue: "", description: "Meter signing-key address" })
    .addOption({
      name: "effectiveAt",
      type: ArgumentType.BIGINT,
      defaultValue: -1n,
      description: "Unix time it ends, not in the future (default: now); intervals ending later earn no RECs",
    })
    .setAction(() => import("./meter.js").then((m) => ({ default: m.revokeAccreditation })))
    .build(),

  emptyTask("oracle", "Reading oracle: submit roots, show interval status").build(),
  task(["oracle", "submit-root"], "Build an interval's Merkle tree from a readings file and vote for its root")
    .addOption({
      name: "file",
      defaultValue: "",
      description: 'JSON {"intervalId", "readings": [{"meter","importWh","exportWh"}]}',
    })
    .addOption({ name: "from", defaultValue: "", description: "Committee member to send from (default: account 1)" })
    .addOption({
      name: "tree",
      defaultValue: "",
      description: "Where to write the tree for proofs (default: trees/<network>/<interval>.json)",
    })
    .setAction(() => import("./oracle.js").then((m) => ({ default: m.submitRoot })))
    .build(),
  task(["oracle", "status"], "Show an interval's root, totals, status and votes")
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Interval id" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./oracle.js").then((m) => ({ default: m.status })))
    .build(),

  emptyTask("kwh", "kWh tokens: claim from proven readings, show balances").build(),
  task(["kwh", "claim"], "Claim kWh for a meter (or every meter) of an interval tree")
    .addOption({ name: "tree", defaultValue: "", description: "Tree file written by `oracle submit-root`" })
    .addOption({ name: "meter", defaultValue: "", description: "Meter to claim for (omit with --all)" })
    .addFlag({ name: "all", description: "Claim every leaf, 16 per multi-proof transaction" })
    .setAction(() => import("./kwh.js").then((m) => ({ default: m.claim })))
    .build(),
  task(["kwh", "balance"], "Show an account's kWh holdings")
    .addOption({ name: "account", defaultValue: "", description: "Account (default: account 0)" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./kwh.js").then((m) => ({ default: m.balance })))
    .build(),

  emptyTask("rec", "Renewable-energy certificates: holdings, retirement, receipts, issuance audit").build(),
  task(["rec", "list"], "Show an account's certificates by class, held and retired for it")
    .addOption({ name: "account", defaultValue: "", description: "Account (default: account 0)" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./rec.js").then((m) => ({ default: m.list })))
    .build(),
  task(["rec", "retire"], "Retire certificates for a beneficiary; prints the receipt id")
    .addOption({
      name: "id",
      defaultValue: "",
      description: "Certificate class id(s), comma-separated (see `rec list`)",
    })
    .addOption({ name: "amount", defaultValue: "", description: "Wh to retire, comma-separated, one per id" })
    .addOption({ name: "beneficiary", defaultValue: "", description: "Account the renewable energy is claimed for" })
    .addOption({
      name: "period",
      defaultValue: "",
      description: "Consumption period, e.g. 2026-11 (into the claim data)",
    })
    .addOption({ name: "location", defaultValue: "", description: "Consumption location (into the claim data)" })
    .addOption({
      name: "claimData",
      defaultValue: "",
      description: "Claim data as text or 0x hex (instead of --period/--location)",
    })
    .addOption({ name: "holder", defaultValue: "", description: "Whose certificates (default: the sender)" })
    .addOption({ name: "from", defaultValue: "", description: "Account to send from (default: account 0)" })
    .setAction(() => import("./rec.js").then((m) => ({ default: m.retire })))
    .build(),
  task(["rec", "receipts"], "List retirement receipts, rebuilt from the claim events")
    .addOption({ name: "beneficiary", defaultValue: "", description: "Only receipts for this beneficiary" })
    .addOption({ name: "holder", defaultValue: "", description: "Only receipts of this holder" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./rec.js").then((m) => ({ default: m.receipts })))
    .build(),
  task(["rec", "issuance"], "List certificate issuances, before or after their meter's accreditation revocations")
    .addOption({ name: "meter", defaultValue: "", description: "Only this meter" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./rec.js").then((m) => ({ default: m.issuance })))
    .build(),

  emptyTask("auction", "Sealed-bid call market: commit, reveal, clear, inspect").build(),
  task(["auction", "status"], "Show an auction's phase, schedule, bounds, commitments and result")
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Delivery interval id" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./auction.js").then((m) => ({ default: m.status })))
    .build(),
  task(["auction", "commit"], "Commit a sealed order; writes its order and salt file (needed to reveal)")
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Delivery interval id" })
    .addOption({ name: "side", defaultValue: "", description: "buy or sell" })
    .addOption({ name: "zone", defaultValue: "", description: "Zone id" })
    .addOption({ name: "quantity", defaultValue: "", description: "Wh" })
    .addOption({ name: "price", defaultValue: "", description: "Limit price, payment-token base units per kWh" })
    .addOption({ name: "meter", defaultValue: "", description: "Sellers: their generating meter in the zone" })
    .addOption({
      name: "collateral",
      defaultValue: "",
      description: "Base units (default: what the order needs; more hides its size)",
    })
    .addOption({ name: "from", defaultValue: "", description: "Account to send from (default: account 0)" })
    .addOption({
      name: "out",
      defaultValue: "",
      description: "Order and salt file (default: orders/<network>/<interval>-<commitment>.json)",
    })
    .setAction(() => import("./auction.js").then((m) => ({ default: m.commit })))
    .build(),
  task(["auction", "reveal"], "Reveal an order from the file `auction commit` wrote")
    .addOption({ name: "file", defaultValue: "", description: "Order and salt file" })
    .addOption({ name: "from", defaultValue: "", description: "The order's trader (default: account 0)" })
    .setAction(() => import("./auction.js").then((m) => ({ default: m.reveal })))
    .build(),
  task(["auction", "clear"], "Clear an auction after gate closure (anyone may)")
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Delivery interval id" })
    .setAction(() => import("./auction.js").then((m) => ({ default: m.clear })))
    .build(),
  task(["auction", "book"], "Revealed orders, fills and zone prices from events, checked against the reference")
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Delivery interval id" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./auction.js").then((m) => ({ default: m.book })))
    .build(),
  task(["auction", "fund"], "Mint the deployment's MockStablecoin to an account (local networks)")
    .addOption({ name: "account", defaultValue: "", description: "Account to fund" })
    .addOption({ name: "amount", defaultValue: "", description: "Base units (6 decimals: 1000000 = 1.00)" })
    .setAction(() => import("./auction.js").then((m) => ({ default: m.fund })))
    .build(),

  emptyTask("settle", "Delivery versus payment of cleared auctions: deliver, collect, status").build(),
  task(
    ["settle", "deliver"],
    "Deliver a seller's kWh for its filled orders and get paid; from the deadline, settle defaults",
  )
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Delivery interval id" })
    .addOption({ name: "seller", defaultValue: "", description: "The seller (default: the sender)" })
    .addOption({ name: "commitment", defaultValue: "", description: "One order (default: all of the seller's)" })
    .addOption({ name: "file", defaultValue: "", description: "The order file `auction commit` wrote (instead)" })
    .addFlag({
      name: "all",
      description: "Every seller that approved the escrow and holds its fill; from the deadline every open seller",
    })
    .addOption({ name: "from", defaultValue: "", description: "Account to send from (default: account 0)" })
    .setAction(() => import("./settle.js").then((m) => ({ default: m.deliver })))
    .build(),
  task(["settle", "collect"], "Collect a buyer's energy, refund and compensation once every seller settled")
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Delivery interval id" })
    .addOption({ name: "buyer", defaultValue: "", description: "The buyer (default: the sender)" })
    .addOption({ name: "commitment", defaultValue: "", description: "One order (default: all of the buyer's)" })
    .addOption({ name: "file", defaultValue: "", description: "The order file `auction commit` wrote (instead)" })
    .addFlag({ name: "all", description: "Every buyer, then pay the congestion rent and sweep the dust" })
    .addOption({ name: "from", defaultValue: "", description: "Account to send from (default: account 0)" })
    .setAction(() => import("./settle.js").then((m) => ({ default: m.collect })))
    .build(),
  task(["settle", "status"], "Obligations, deliveries, payments, refunds, rent and dust of an auction, from events")
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Delivery interval id" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./settle.js").then((m) => ({ default: m.status })))
    .build(),

  emptyTask("deal", "Bilateral deals (RFQ) of kWh tokens and certificates: quote, fill, cancel").build(),
  task(["deal", "quote"], "Sign a quote selling kWh tokens or certificates; writes the quote and signature to a file")
    .addOption({ name: "token", defaultValue: "", description: "kwh or rec" })
    .addOption({ name: "id", defaultValue: "", description: "Token id (kWh: zone << 64 | interval; rec: class id)" })
    .addOption({ name: "amount", defaultValue: "", description: "Units offered (1 unit = 1 Wh)" })
    .addOption({ name: "price", defaultValue: "", description: "Payment-token base units per 1000 units (per kWh)" })
    .addOption({
      name: "expiry",
      defaultValue: "",
      description: "Seconds from now (below 1000000000) or a Unix time; the last second it can be filled",
    })
    .addFlag({ name: "partial", description: "Allow takers to fill part of the amount" })
    .addOption({ name: "nonce", defaultValue: "", description: "Quote nonce (default: your current nonce floor)" })
    .addOption({
      name: "paymentToken",
      defaultValue: "",
      description: "ERC-20 to be paid in (default: the deployment's)",
    })
    .addOption({ name: "from", defaultValue: "", description: "The maker's account (default: account 0)" })
    .addOption({
      name: "out",
      defaultValue: "",
      description: "Quote file (default: deals/<network>/<quote hash prefix>.json)",
    })
    .setAction(() => import("./deal.js").then((m) => ({ default: m.quote })))
    .build(),
  task(["deal", "fill"], "Fill a quote (approves the payment if needed)")
    .addOption({ name: "quote", defaultValue: "", description: "Quote file written by `deal quote`" })
    .addOption({ name: "amount", defaultValue: "", description: "Units to buy (default: all that remains)" })
    .addOption({ name: "from", defaultValue: "", description: "The taker's account (default: account 0)" })
    .setAction(() => import("./deal.js").then((m) => ({ default: m.fill })))
    .build(),
  task(["deal", "cancel"], "Cancel one quote, or every quote of yours below a nonce")
    .addOption({ name: "quote", defaultValue: "", description: "Quote file to cancel" })
    .addOption({ name: "belowNonce", defaultValue: "", description: "Cancel every quote with a smaller nonce" })
    .addOption({ name: "from", defaultValue: "", description: "The maker's account (default: account 0)" })
    .setAction(() => import("./deal.js").then((m) => ({ default: m.cancel })))
    .build(),
  task(["deal", "status"], "Show a quote's fills, what remains and whether it is still open")
    .addOption({ name: "quote", defaultValue: "", description: "Quote file" })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./deal.js").then((m) => ({ default: m.status })))
    .build(),

  emptyTask(
    "audit",
    "Auditor's view: trace one reading from meter to money; reconcile relayer stores with the chain",
  ).build(),
  task(
    ["audit", "trace"],
    "Trace one reading (or a transaction, or a certificate) through every ledger entry it caused",
  )
    .addOption({ name: "meter", defaultValue: "", description: "Meter address (with --interval)" })
    .addOption({ name: "interval", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Interval id" })
    .addOption({ name: "tx", defaultValue: "", description: "A transaction hash: trace what it touched" })
    .addOption({ name: "rec", defaultValue: "", description: "A certificate (REC) token id: trace it back" })
    .addOption({
      name: "relayer",
      defaultValue: "",
      description: "Relayer API base URL for the signed reading (default: $RELAYER_URL; chain-only without it)",
    })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./auditTrace.js"))
    .build(),
  task(["audit", "reconcile"], "Compare relayer stores with the chain over a range of intervals; exit 1 on mismatch")
    .addOption({ name: "from", type: ArgumentType.BIGINT, defaultValue: -1n, description: "First interval id" })
    .addOption({ name: "to", type: ArgumentType.BIGINT, defaultValue: -1n, description: "Last interval id" })
    .addOption({
      name: "store",
      defaultValue: "",
      description: "Relayer stores, comma-separated: SQLite file paths or postgres:// URLs (default: $RELAYER_STORES)",
    })
    .addOption({
      name: "toleranceWh",
      type: ArgumentType.BIGINT,
      defaultValue: 0n,
      description: "Energy differences up to this many Wh are not mismatches",
    })
    .addOption({
      name: "toleranceUnits",
      type: ArgumentType.BIGINT,
      defaultValue: 0n,
      description: "Payment differences up to this many token base units are not mismatches",
    })
    .addFlag({ name: "json", description: "Print JSON" })
    .setAction(() => import("./auditReconcile.js"))
    .build(),
];
