import { action, connectSystem, toJson, connectAs } from "./common.js";
import { InputError } from "../src/errors.js";
import { cancelQuote, fillQuote, formatDealId, invalidateNonces, quoteStatus, signQuote } from "../src/ops/deals.js";

function iso(unix: bigint): string {
  return new Date(Number(unix) * 1000).toISOString().replace(".000Z", "Z");
}

interface QuoteArgs {
  token: string;
  id: string;
  amount: string;
  price: string;
  expiry: string;
  partial: boolean;
  nonce: string;
  paymentToken: string;
  from: string;
  out: string;
}

export const quote = action<QuoteArgs>(async (args, hre) => {
  if (args.token === "") throw new InputError("give --token kwh|rec");
  if (args.id === "") throw new InputError("give --id <token id>");
  if (args.amount === "") throw new InputError("give --amount <units (Wh)>");
  if (args.price === "") throw new InputError("give --price <payment-token base units per 1000 units (per kWh)>");
  if (args.expiry === "") throw new InputError("give --expiry <seconds from now, or a Unix time>");
  const { system, signer, deployment, networkName } = await connectAs(hre, args.from);
  const r = await signQuote(system, deployment, signer, {
    token: args.token,
    id: args.id,
    amount: args.amount,
    price: args.price,
    expiry: args.expiry,
    allowPartial: args.partial,
    nonce: args.nonce === "" ? undefined : args.nonce,
    paymentToken: args.paymentToken === "" ? undefined : args.paymentToken,
    out: args.out === "" ? undefined : args.out,
    network: networkName,
  });
  const q = r.quote;
  if (r.approvalTx !== null)
    console.log(`approved the DealDesk for ${q.maker}'s ${r.tokenName} tokens (tx ${r.approvalTx})`);
  console.log(
    `quote ${r.quoteHash}: ${q.maker} sells ${q.amount} units of ${r.tokenName} ${formatDealId(r.tokenName, q.id)} ` +
      `at ${q.price} per 1000 units (${r.payment} base units for all), ${q.allowPartial ? "partial fills allowed" : "all or nothing"}, ` +
      `until ${iso(q.expiry)}, nonce ${q.nonce}`,
  );
  if (r.transferableUntil !== null && r.transferableUntil <= q.expiry)
    console.log(
      `note: the kWh token stops being transferable at ${iso(r.transferableUntil)}, before the quote expires`,
    );
  console.log(`quote and signature written to ${r.file} (give it to the taker: deal fill --quote ${r.file})`);
});

export const fill = action<{ quote: string; amount: string; from: string }>(async (args, hre) => {
  if (args.quote === "") throw new InputError("give --quote <quote file written by `deal quote`>");
  const { system, signer, deployment } = await connectAs(hre, args.from);
  const r = await fillQuote(system, deployment, signer, args.quote, args.amount === "" ? undefined : args.amount);
  if (r.approveTx !== null)
    console.log(`approved ${r.payment} base units of ${r.quote.paymentToken} (tx ${r.approveTx})`);
  console.log(
    `filled ${r.amount} units of ${r.tokenName} ${formatDealId(r.tokenName, r.quote.id)} from ${r.quote.maker} ` +
      `for ${r.payment} base units; ${r.remaining} left of quote ${r.quoteHash} (tx ${r.txHash})`,
  );
});

export const cancel = action<{ quote: string; belowNonce: string; from: string }>(async (args, hre) => {
  if ((args.quote === "") === (args.belowNonce === ""))
    throw new InputError("give either --quote <quote file> or --below-nonce <n>");
  const { system, signer, deployment } = await connectAs(hre, args.from);
  if (args.quote !== "") {
    const r = await cancelQuote(system, deployment, signer, args.quote);
    console.log(`cancelled quote ${r.quoteHash} (${r.filled} units had been filled) (tx ${r.txHash})`);
  } else {
    const r = await invalidateNonces(system, deployment, signer, args.belowNonce);
    console.log(
      `cancelled every quote of ${r.maker} with a nonce below ${r.minNonce} (the floor was ${r.previous}) (tx ${r.txHash})`,
    );
  }
});

export const status = action<{ quote: string; json: boolean }>(async (args, hre) => {
  if (args.quote === "") throw new InputError("give --quote <quote file written by `deal quote`>");
  const { system, deployment } = await connectSystem(hre);
  const s = await quoteStatus(system, deployment, args.quote);
  if (args.json) {
    console.log(toJson(s));
    return;
  }
  const q = s.quote;
  const state = s.cancelled
    ? "cancelled"
    : s.nonceInvalidated
      ? `cancelled (nonce below the maker's floor ${s.minNonce})`
      : s.expired
        ? "expired"
        : s.remaining === 0n
          ? "filled"
          : "open";
  console.log(`quote ${s.quoteHash}: ${state}`);
  console.log(`  maker      ${q.maker}`);
  console.log(`  token      ${s.tokenName} ${formatDealId(s.tokenName, q.id)}`);
  console.log(`  price      ${q.price} base units of ${q.paymentToken} per 1000 units`);
  console.log(`  amount     ${q.amount} (${q.allowPartial ? "partial fills allowed" : "all or nothing"})`);
  console.log(`  filled     ${s.filled}`);
  console.log(`  remaining  ${s.remaining}`);
  console.log(`  expiry     ${iso(q.expiry)} (${q.expiry}; chain time ${iso(s.now)})`);
  console.log(`  nonce      ${q.nonce}`);
});
