import { expect } from "chai";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { network } from "hardhat";
import { JsonRpcProvider, Wallet } from "ethers";
import { errorLines, expectOneLineError, hardhat, twoAtATime } from "./helpers.js";

describe("tasks (over JSON-RPC, as an operator runs them)", function () {
  this.timeout(300_000);
  const dir = mkdtempSync(join(tmpdir(), "microgrid-tasks-"));
  let env: NodeJS.ProcessEnv;
  let server: Awaited<ReturnType<typeof network.createServer>>;
  let intervalId: bigint;
  const meter = Wallet.createRandom();
  const owner = "0x90F79bf6EB2c4f870365E785982E1f101E93b906"; // hardhat account 3

  before(async function () {
    server = await network.createServer("default", "127.0.0.1", 0);
    const { address, port } = await server.listen();
    env = { ...process.env, LOCALHOST_URL: `http://${address}:${port}`, DEPLOYMENTS_DIR: dir, FORCE_COLOR: "0" };
  });

  after(async function () {
    await server.close();
  });

  it("test_deploy_writesTheDeploymentRecord", async function () {
    const r = await hardhat(env, "deploy", "--network", "localhost", "--settlement-window", "7200");
    expect(r.code, r.stderr).to.equal(0);
    const d = JSON.parse(readFileSync(join(dir, "localhost.json"), "utf8"));
    expect(d.chainId).to.equal("31337");
    expect(Object.keys(d.contracts)).to.deep.equal([
      "Governance",
      "MeterRegistry",
      "ReadingOracle",
      "RecToken",
      "KwhToken",
      "BatchAuction",
      "SettlementEscrow",
      "DealDesk",
      "MockStablecoin",
      "FloorFeed",
      "CeilingFeed",
    ]);
    expect(d.market.paymentToken).to.equal(d.contracts.MockStablecoin.address);
    expect(d.contracts.BatchAuction.args[1]).to.equal(d.contracts.MockStablecoin.address);
    expect(d.contracts.RecToken.args[2]).to.equal(d.contracts.KwhToken.address);
    for (const c of Object.values(d.contracts) as { address: string; txHash: string; block: number }[]) {
      expect(c.address).to.match(/^0x[0-9a-fA-F]{40}$/);
      expect(c.txHash).to.match(/^0x[0-9a-f]{64}$/);
    }
    expect(d.contracts.KwhToken.args[4]).to.equal("7200");
    expect(d.params.threshold).to.equal(2);
    expect(r.stdout).to.contain("KwhToken");
  });

  it("test_meterTasks_zoneRegisterListRevoke", async function () {
    expect(
      (
        await hardhat(
          env,
          "meter",
          "zone",
          "--network",
          "localhost",
          "--zone",
          "1",
          "--export-capacity",
          "50000",
          "--import-capacity",
          "40000",
        )
      ).code,
    ).to.equal(0);
    const reg = await hardhat(
      env,
      "meter",
      "register",
      "--network",
      "localhost",
      "--meter",
      meter.address,
      "--owner",
      owner,
      "--zone",
      "1",
      "--capacity",
      "6000",
    );
    expect(reg.code, reg.stderr).to.equal(0);
    const spare = Wallet.createRandom().address;
    const file = join(dir, "meters.json");
    writeFileSync(
      file,
      JSON.stringify([{ meter: spare, owner, zone: 1, technology: "battery", ratedCapacityW: 3000 }]),
    );
    expect((await hardhat(env, "meter", "register", "--network", "localhost", "--file", file)).code).to.equal(0);
    expect((await hardhat(env, "meter", "revoke", "--network", "localhost", "--meter", spare)).code).to.equal(0);
    const list = await hardhat(env, "meter", "list", "--network", "localhost", "--json");
    const rows = JSON.parse(list.stdout);
    expect(rows.map((r: { meter: string; status: string }) => [r.meter, r.status])).to.deep.equal([
      [meter.address, "active"],
      [spare, "revoked"],
    ]);
  });

  it("test_oracleAndKwhTasks_submitStatusClaimBalance", async function () {
    // An interval that has ended: move the node's clock past the current one.
    const rpc = new JsonRpcProvider(env.LOCALHOST_URL);
    const latest = await rpc.getBlock("latest");
    intervalId = BigInt(latest!.timestamp) / 900n;
    await rpc.send("evm_setNextBlockTimestamp", [Number((intervalId + 1n) * 900n)]);
    await rpc.send("evm_mine", []);
    rpc.destroy();
    const readings = join(dir, "readings.json");
    writeFileSync(
      readings,
      JSON.stringify({
        intervalId: intervalId.toString(),
        readings: [{ meter: meter.address, importWh: 5, exportWh: 1400 }],
      }),
    );
    const tree = join(dir, "tree.json");
    for (const from of ["0x70997970C51812dc3A010C7d01b50e0d17dc79C8", "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"]) {
      const r = await hardhat(
        env,
        "oracle",
        "submit-root",
        "--network",
        "localhost",
        "--file",
        readings,
        "--from",
        from,
        "--tree",
        tree,
      );
      expect(r.code, r.stderr).to.equal(0);
    }
    const status = JSON.parse(
      (await hardhat(env, "oracle", "status", "--network", "localhost", "--interval", intervalId.toString(), "--json"))
        .stdout,
    );
    expect([status.status, status.votes, status.totalExportWh]).to.deep.equal(["final", 2, "1400"]);
    const claim = await hardhat(env, "kwh", "claim", "--network", "localhost", "--tree", tree, "--all");
    expect(claim.code, claim.stderr).to.equal(0);
    const bal = JSON.parse(
      (await hardhat(env, "kwh", "balance", "--network", "localhost", "--account", owner, "--json")).stdout,
    );
    expect(bal).to.have.length(1);
    expect([bal[0].zone, bal[0].intervalId, bal[0].balanceWh]).to.deep.equal(["1", intervalId.toString(), "1400"]);
    // Claiming again names the problem in one line.
    const again = await hardhat(
      env,
      "kwh",
      "claim",
      "--network",
      "localhost",
      "--tree",
      tree,
      "--meter",
      meter.address,
    );
    expect(again.code).to.not.equal(0);
    expect(errorLines(again.stderr)).to.deep.equal([
      `Error: KwhTokenAlreadyClaimed(meter=${meter.address}, intervalId=${intervalId}): this reading was claimed already`,
    ]);
  });

  it("test_tasks_printOneLineErrorsForBadInput", async function () {
    const cases: [string[], RegExp][] = [
      [
        ["meter", "register", "--network", "localhost", "--meter", "0x12", "--owner", owner],
        /^Error: meter "0x12" is not an address$/,
      ],
      [
        [
          "meter",
          "register",
          "--network",
          "localhost",
          "--meter",
          Wallet.createRandom().address,
          "--owner",
          owner,
          "--zone",
          "9",
          "--capacity",
          "1",
        ],
        /^Error: MeterRegistryUnknownZone\(zone=9\): configure the zone first/,
      ],
      [
        [
          "meter",
          "register",
          "--network",
          "localhost",
          "--meter",
          meter.address,
          "--owner",
          owner,
          "--zone",
          "1",
          "--capacity",
          "1",
        ],
        /^Error: MeterRegistryMeterExists\(meter=0x[0-9a-fA-F]{40}\)/,
      ],
      [["oracle", "submit-root", "--network", "localhost"], /^Error: give --file <readings.json>$/],
      [
        ["oracle", "submit-root", "--network", "localhost", "--file", "/nonexistent.json"],
        /^Error: cannot read readings file \/nonexistent.json/,
      ],
      [["oracle", "status", "--network", "localhost"], /^Error: give --interval <id>$/],
      [
        ["kwh", "claim", "--network", "localhost", "--tree", "/nonexistent.json", "--all"],
        /^Error: cannot read tree file/,
      ],
      [["meter", "list"], /^Error: the in-process network forgets everything when a command ends/],
      [
        [
          "meter",
          "register",
          "--network",
          "localhost",
          "--technology",
          "nuclear",
          "--meter",
          meter.address,
          "--owner",
          owner,
        ],
        /^Error: technology "nuclear" must be one of solar, wind, battery, load-only$/,
      ],
    ];
    const results = await twoAtATime(cases, ([args]) => hardhat(env, ...args));
    cases.forEach(([args, pattern], i) => expectOneLineError(results[i], pattern, args.join(" ")));
  });

  it("test_tasks_reportAnUnreachableNodeInOneLine", async function () {
    const r = await hardhat({ ...env, LOCALHOST_URL: "http://127.0.0.1:1" }, "meter", "list", "--network", "localhost");
    expect(r.code).to.not.equal(0);
    const lines = errorLines(r.stderr);
    expect(lines).to.have.length(1);
    expect(lines[0]).to.match(/^Error: .*Cannot connect to the network "localhost".*is the JSON-RPC node running/);
  });
});
