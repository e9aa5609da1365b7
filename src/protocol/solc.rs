//! Compiles Solidity with the Solidity compiler from npm (`solc`, the compiler built for
//! JavaScript, pinned version and sha512 integrity, run with `node`), standard-JSON in, named
//! contracts out; each output is cached in `.liqsim-cache/solc/<version>/` keyed by the sha256 of
//! its input, so a source is compiled once per compiler version.

use std::collections::BTreeMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use alloy_primitives::Bytes;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::protocol::artifacts::{cache_root, fetch_npm_package, NpmPackage};

/// The Solidity compiler liqsim compiles its own contracts with.
pub const SOLC: NpmPackage = NpmPackage {
    name: "solc",
    version: "0.8.24",
    integrity: "sha512-G5yUqjTUPc8Np74sCFwfsevhBPlUifUOfhYrgyu6CmYlC6feSw0YS6eZW47XDT23k3JYdKx5nJ+Q7whCEmNcoA==",
    env_override: "LIQSIM_SOLC",
    extra_artifact_dirs: &[],
};

/// The EVM version liqsim compiles for (runs on every chain since the Merge).
pub const EVM_VERSION: &str = "paris";

/// Runs the compiler's `solidity_compile` on standard-JSON read from stdin; prints the output.
const DRIVER: &str = r#"
const soljson = require(process.argv[1]);
const compile = soljson.cwrap('solidity_compile', 'string', ['string', 'number', 'number']);
const version = soljson.cwrap('solidity_version', 'string', [])();
let input = '';
process.stdin.setEncoding('utf8');
process.stdin.on('data', (d) => { input += d; });
process.stdin.on('end', () => {
  process.stdout.write(JSON.stringify({ version, output: JSON.parse(compile(input, 0, 0)) }));
});
"#;

/// One compiled contract.
#[derive(Debug, Clone)]
pub struct CompiledContract {
    /// `source path:ContractName`.
    pub name: String,
    /// Creation bytecode (constructor arguments go after it).
    pub bytecode: Bytes,
    /// Runtime bytecode.
    pub deployed_bytecode: Bytes,
    /// The ABI, as the compiler gives it.
    pub abi: serde_json::Value,
}

/// A compiler run's contracts, by `source path:ContractName`.
#[derive(Debug, Clone)]
pub struct Compiled {
    /// Compiler version that produced them (`0.8.24+commit…`).
    pub version: String,
    contracts: BTreeMap<String, CompiledContract>,
}

impl Compiled {
    /// The contract `name`: `ContractName` when only one source defines it, else
    /// `source path:ContractName`.
    pub fn contract(&self, name: &str) -> Result<&CompiledContract> {
        if let Some(c) = self.contracts.get(name) {
            return Ok(c);
        }
        let matches: Vec<&CompiledContract> = self
            .contracts
            .iter()
            .filter(|(k, _)| k.rsplit(':').next() == Some(name))
            .map(|(_, c)| c)
            .collect();
        match matches.as_slice() {
            [one] => Ok(one),
            [] => Err(Error::Compile {
                what: name.to_string(),
                message: format!(
                    "the compiled sources define no contract {name}; they define {}",
                    self.contracts
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
            many => Err(Error::Compile {
                what: name.to_string(),
                message: format!(
                    "contract name {name} is ambiguous ({}); name it as `source:Contract`",
                    many.iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }),
        }
    }

    /// Every contract's `source path:ContractName`.
    pub fn names(&self) -> Vec<String> {
        self.contracts.keys().cloned().collect()
    }
}

/// Standard-JSON input for `sources` (path, text) with the optimizer on (200 runs) and
/// [`EVM_VERSION`], asking for ABIs and creation and runtime bytecode.
pub fn standard_input(sources: &[(&str, &str)]) -> serde_json::Value {
    let sources: serde_json::Map<String, serde_json::Value> = sources
        .iter()
        .map(|(path, text)| (path.to_string(), serde_json::json!({ "content": text })))
        .collect();
    serde_json::json!({
        "language": "Solidity",
        "sources": sources,
        "settings": {
            "optimizer": { "enabled": true, "runs": 200 },
            "evmVersion": EVM_VERSION,
            "outputSelection": {
                "*": { "*": ["abi", "evm.bytecode.object", "evm.deployedBytecode.object"] }
            }
        }
    })
}

/// Compiles `sources` (path, text) with [`standard_input`].
pub fn compile_sources(sources: &[(&str, &str)]) -> Result<Compiled> {
    compile_standard_json(&standard_input(sources))
}

/// Compiles `sources` (path, text) together with every file they import, read from the folders
/// of `libraries` (an import prefix such as `@openzeppelin/contracts/`, and the unpacked package
/// folder it names). Relative imports resolve against the importing file's source unit name, as
/// solc resolves them. An import no library provides is an [`Error::Compile`] naming it and its
/// importer.
pub fn compile_with_imports(
    sources: &[(&str, &str)],
    libraries: &[(&str, PathBuf)],
) -> Result<Compiled> {
    let mut all: BTreeMap<String, String> = sources
        .iter()
        .map(|(path, text)| (path.to_string(), text.to_string()))
        .collect();
    let mut pending: Vec<(String, String)> = sources
        .iter()
        .flat_map(|(path, text)| {
            imports(text)
                .into_iter()
                .map(|i| (resolve_import(path, &i), path.to_string()))
        })
        .collect();
    while let Some((name, importer)) = pending.pop() {
        if all.contains_key(&name) {
            continue;
        }
        let (prefix, dir) = libraries
            .iter()
            .find(|(prefix, _)| name.starts_with(prefix))
            .ok_or_else(|| Error::Compile {
                what: importer.clone(),
                message: format!(
                    "it imports {name}, which no library provides (known prefixes: {})",
                    libraries
                        .iter()
                        .map(|(p, _)| *p)
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let file = dir.join(&name[prefix.len()..]);
        let text = fs::read_to_string(&file).map_err(|e| Error::Compile {
            what: importer.clone(),
            message: format!("it imports {name}, read from {}: {e}", file.display()),
        })?;
        pending.extend(
            imports(&text)
                .into_iter()
                .map(|i| (resolve_import(&name, &i), name.clone())),
        );
        all.insert(name, text);
    }
    let listed: Vec<(&str, &str)> = all
        .iter()
        .map(|(path, text)| (path.as_str(), text.as_str()))
        .collect();
    compile_sources(&listed)
}

/// The paths a Solidity source imports (`import "p";`, `import {A} from "p";`, `import * as X
/// from "p";`), in order.
fn imports(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim_start)
        .filter(|line| line.starts_with("import ") || line.starts_with("import{"))
        .filter_map(|line| {
            let quote = line.find(['"', '\''])?;
            let q = line[quote..].chars().next()?;
            let rest = &line[quote + 1..];
            rest.find(q).map(|end| rest[..end].to_string())
        })
        .collect()
}

/// The source unit name of `import` in the file named `importer`: relative paths (`./`, `../`)
/// joined to the importer's folder and normalised, others as written.
fn resolve_import(importer: &str, import: &str) -> String {
    if !(import.starts_with("./") || import.starts_with("../")) {
        return import.to_string();
    }
    let mut parts: Vec<&str> = importer.split('/').collect();
    parts.pop();
    for segment in import.split('/') {
        match segment {
            "." | "" => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    parts.join("/")
}

#[derive(Deserialize)]
struct DriverOutput {
    version: String,
    output: StandardOutput,
}

#[derive(Deserialize)]
struct StandardOutput {
    #[serde(default)]
    errors: Vec<CompilerMessage>,
    #[serde(default)]
    contracts: BTreeMap<String, BTreeMap<String, RawContract>>,
}

#[derive(Deserialize)]
struct CompilerMessage {
    severity: String,
    #[serde(rename = "formattedMessage", default)]
    formatted: String,
    #[serde(default)]
    message: String,
}

#[derive(Deserialize)]
struct RawContract {
    #[serde(default)]
    abi: serde_json::Value,
    evm: RawEvm,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawEvm {
    bytecode: RawBytecode,
    deployed_bytecode: RawBytecode,
}

#[derive(Deserialize)]
struct RawBytecode {
    object: String,
}

/// Compiles a standard-JSON input: from the cache when this compiler version compiled the same
/// input before, else with `node` and the `solc` package (fetched on first use). Compiler errors
/// (not warnings) are an [`Error::Compile`] quoting them.
pub fn compile_standard_json(input: &serde_json::Value) -> Result<Compiled> {
    // One compilation at a time in this process (tests compile from several threads).
    static COMPILING: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = COMPILING
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let text = serde_json::to_string(input).map_err(|e| Error::Decode {
        what: "solc standard-JSON input".into(),
        message: e.to_string(),
    })?;
    let key = hex::encode(Sha256::digest(text.as_bytes()));
    let dir = cache_root().join("solc").join(SOLC.version);
    let cached = dir.join(format!("{key}.json"));
    let raw = match fs::read_to_string(&cached) {
        Ok(raw) => raw,
        Err(_) => {
            let raw = run_compiler(&text)?;
            // Only a successful compilation is cached (errors are re-reported on every run).
            parse_output(&raw, &cached)?;
            fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
            let staging = dir.join(format!(".{key}.{}.tmp", std::process::id()));
            fs::write(&staging, &raw).map_err(|e| Error::io("writing", &staging, e))?;
            fs::rename(&staging, &cached)
                .map_err(|e| Error::io("moving into place", &cached, e))?;
            raw
        }
    };
    parse_output(&raw, &cached)
}

/// The unpacked `solc` package (the environment variable's folder, else the cache).
fn solc_dir() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(SOLC.env_override) {
        return Ok(PathBuf::from(path));
    }
    fetch_npm_package(
        &SOLC,
        &|p: &str| {
            p == "package/soljson.js" || p == "package/package.json" || p == "package/LICENSE"
        },
        "soljson.js",
    )
}

fn run_compiler(input: &str) -> Result<String> {
    let soljson = solc_dir()?.join("soljson.js");
    if !soljson.is_file() {
        return Err(Error::Compile {
            what: "the compiler".into(),
            message: format!(
                "{} is missing; expected the {}@{} package unpacked there (or set {} to such a folder)",
                soljson.display(),
                SOLC.name,
                SOLC.version,
                SOLC.env_override
            ),
        });
    }
    let mut child = Command::new("node")
        .arg("-e")
        .arg(DRIVER)
        .arg(absolute(&soljson))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Compile {
            what: "the compiler".into(),
            message: format!(
                "could not run `node` ({e}): the {}@{} compiler runs on Node.js; install Node.js",
                SOLC.name, SOLC.version
            ),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin
            .write_all(input.as_bytes())
            .map_err(|e| Error::Compile {
                what: "the compiler".into(),
                message: format!("writing the input to node: {e}"),
            })?;
    }
    let output = child.wait_with_output().map_err(|e| Error::Compile {
        what: "the compiler".into(),
        message: format!("waiting for node: {e}"),
    })?;
    if !output.status.success() {
        return Err(Error::Compile {
            what: "the compiler".into(),
            message: format!(
                "node running {}@{} failed ({}): {}; check that Node.js works and the package at {} is intact (delete it to refetch)",
                SOLC.name,
                SOLC.version,
                output.status,
                String::from_utf8_lossy(&output.stderr).trim(),
                soljson.display()
            ),
        });
    }
    String::from_utf8(output.stdout).map_err(|e| Error::Compile {
        what: "the compiler".into(),
        message: format!("its output is not UTF-8: {e}"),
    })
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn parse_output(raw: &str, path: &Path) -> Result<Compiled> {
    let out: DriverOutput = serde_json::from_str(raw).map_err(|e| Error::InvalidFile {
        path: path.to_path_buf(),
        message: format!("not the compiler's standard-JSON output: {e}"),
    })?;
    let errors: Vec<String> = out
        .output
        .errors
        .iter()
        .filter(|m| m.severity == "error")
        .map(|m| {
            if m.formatted.is_empty() {
                m.message.clone()
            } else {
                m.formatted.clone()
            }
        })
        .collect();
    if !errors.is_empty() {
        return Err(Error::Compile {
            what: "the sources".into(),
            message: format!("solc {}: {}", out.version, errors.join("\n")),
        });
    }
    let mut contracts = BTreeMap::new();
    for (source, named) in out.output.contracts {
        for (name, c) in named {
            let decode = |hex_code: &str, which: &str| {
                hex::decode(hex_code.trim_start_matches("0x"))
                    .map(Bytes::from)
                    .map_err(|e| Error::Compile {
                        what: format!("{source}:{name}"),
                        message: format!("its {which} is not hex (unlinked libraries?): {e}"),
                    })
            };
            let full = format!("{source}:{name}");
            contracts.insert(
                full.clone(),
                CompiledContract {
                    name: full,
                    bytecode: decode(&c.evm.bytecode.object, "bytecode")?,
                    deployed_bytecode: decode(&c.evm.deployed_bytecode.object, "runtime bytecode")?,
                    abi: c.abi,
                },
            );
        }
    }
    Ok(Compiled {
        version: out.version,
        contracts,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn imports_are_read_and_resolved_as_solc_resolves_them() {
        let text = "pragma solidity ^0.8.0;\nimport \"./IERC20.sol\";\n  import {Initializable} from '../../proxy/utils/Initializable.sol';\nimport \"@x/y/Z.sol\";\n// import \"no.sol\";\n";
        assert_eq!(
            imports(text),
            vec![
                "./IERC20.sol",
                "../../proxy/utils/Initializable.sol",
                "@x/y/Z.sol"
            ]
        );
        let importer = "@openzeppelin/contracts-upgradeable/token/ERC20/ERC20Upgradeable.sol";
        assert_eq!(
            resolve_import(importer, "../../proxy/utils/Initializable.sol"),
            "@openzeppelin/contracts-upgradeable/proxy/utils/Initializable.sol"
        );
        assert_eq!(
            resolve_import(importer, "./extensions/IERC20MetadataUpgradeable.sol"),
            "@openzeppelin/contracts-upgradeable/token/ERC20/extensions/IERC20MetadataUpgradeable.sol"
        );
        assert_eq!(resolve_import(importer, "@x/y/Z.sol"), "@x/y/Z.sol");
    }

    #[test]
    fn an_import_no_library_provides_is_named() {
        let err = compile_with_imports(
            &[(
                "contracts/A.sol",
                "import \"@nowhere/B.sol\";\ncontract A {}",
            )],
            &[],
        )
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
        assert!(err.contains("@nowhere/B.sol"), "{err}");
        assert!(err.contains("contracts/A.sol"), "{err}");
    }
}
