// Compiles every contract under ./contracts (or the directory given as the first argument)
// with solc-js and prints, as JSON on stdout:
//   { "<ContractName>": { "abi": [...], "bytecode": "0x...", "deployedBytecode": "0x..." }, ... }
// Also usable as a module: `import { compileContracts } from "./compile.mjs"`.
import { readdirSync, readFileSync } from "node:fs";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import solc from "solc";

const here = dirname(fileURLToPath(import.meta.url));

// Conservative EVM target so the bytecode runs on any node from Cancun on.
export const EVM_VERSION = "cancun";

export function compileContracts(dir = join(here, "contracts")) {
  const sources = {};
  for (const name of readdirSync(dir).filter((f) => f.endsWith(".sol")).sort()) {
    sources[name] = { content: readFileSync(join(dir, name), "utf8") };
  }
  if (Object.keys(sources).length === 0) throw new Error(`no .sol files in ${dir}`);
  const input = {
    language: "Solidity",
    sources,
    settings: {
      evmVersion: EVM_VERSION,
      optimizer: { enabled: true, runs: 200 },
      outputSelection: { "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] } },
    },
  };
  // Imports such as "@openzeppelin/contracts/..." resolve to tests/js/node_modules
  // (installed from the npm registry by scripts/install-tools.sh).
  const findImports = (path) => {
    const file = join(here, "node_modules", path);
    return existsSync(file) ? { contents: readFileSync(file, "utf8") } : { error: `not found: ${path}` };
  };
  const output = JSON.parse(solc.compile(JSON.stringify(input), { import: findImports }));
  const errors = (output.errors ?? []).filter((e) => e.severity === "error");
  if (errors.length > 0) {
    throw new Error("solc failed:\n" + errors.map((e) => e.formattedMessage).join("\n"));
  }
  const result = {};
  for (const file of Object.keys(output.contracts ?? {}).filter((f) => sources[f])) {
    for (const [name, c] of Object.entries(output.contracts[file])) {
      if (c.evm.bytecode.object === "") continue; // an interface or abstract contract
      if (result[name]) throw new Error(`duplicate contract name ${name}`);
      result[name] = {
        abi: c.abi,
        bytecode: "0x" + c.evm.bytecode.object,
        deployedBytecode: "0x" + c.evm.deployedBytecode.object,
      };
    }
  }
  return result;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const dir = process.argv[2];
    process.stdout.write(JSON.stringify(dir ? compileContracts(dir) : compileContracts()) + "\n");
  } catch (e) {
    console.error(e.message ?? e);
    process.exit(1);
  }
}
