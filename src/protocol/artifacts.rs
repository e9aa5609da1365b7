//! Published compiled contracts (npm packages), fetched at first use into a git-ignored cache,
//! verified against a pinned integrity hash, and linked against deployed library addresses.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use alloy_primitives::{keccak256, Address, Bytes};
use base64::Engine as _;
use serde::Deserialize;
use sha2::{Digest, Sha512};

use crate::error::{Error, Result};

/// An npm package pinned by version and by the integrity string its registry publishes.
#[derive(Debug, Clone, Copy)]
pub struct NpmPackage {
    /// Package name, e.g. `@aave/core-v3`.
    pub name: &'static str,
    /// Exact version.
    pub version: &'static str,
    /// Subresource-integrity string of the tarball (`sha512-<base64>`).
    pub integrity: &'static str,
    /// Environment variable that may point at an already unpacked copy of the package.
    pub env_override: &'static str,
    /// Folders under `package/artifacts/` unpacked besides `contracts/` (compiled dependencies the
    /// deployment needs, e.g. OpenZeppelin proxies).
    pub extra_artifact_dirs: &'static [&'static str],
}

/// Aave V3 core, the version the issue pins.
pub const AAVE_V3_CORE: NpmPackage = NpmPackage {
    name: "@aave/core-v3",
    version: "1.19.3",
    integrity: "sha512-Xr7+VcoU5b4mPwM4IUCnskw3lciwrnL4Xloyad8GOddYeixnri2lZYobNmErm1LwE50vqjI0O+9QGNKY2TDkeQ==",
    env_override: "LIQSIM_AAVE_V3_ARTIFACTS",
    extra_artifact_dirs: &[],
};

/// Aave V2 protocol, the version issue 6 pins.
pub const AAVE_V2: NpmPackage = NpmPackage {
    name: "@aave/protocol-v2",
    version: "1.0.1",
    integrity: "sha512-MU3WiigW89DWDpCtvaw4rafih7RbADB45uUM/zqfnOD4g9JNUVfeT6MrjV4/DP/JPA2Iv5ySKSx+a1OfUES0Pg==",
    env_override: "LIQSIM_AAVE_V2_ARTIFACTS",
    extra_artifact_dirs: &[],
};

/// Venus Protocol isolated pools (a maintained Compound V2 fork), the version issue 6 pins. Its
/// own artifacts plus the OpenZeppelin beacon proxies and Venus' `AccessControlManager` it deploys
/// behind.
pub const VENUS_ISOLATED_POOLS: NpmPackage = NpmPackage {
    name: "@venusprotocol/isolated-pools",
    version: "4.4.0",
    integrity: "sha512-OalbpAYhtUJ9ZPHNUKDFZQcvjvRwtFeKU59weL7pUG9AUPBH9CwYhsK/M3OC7YIUmFGe5nBV554nirqCWu2SKA==",
    env_override: "LIQSIM_VENUS_ARTIFACTS",
    extra_artifact_dirs: &[
        "@openzeppelin/contracts/proxy/",
        "@venusprotocol/governance-contracts/contracts/Governance/",
    ],
};

/// Venus Protocol's oracles (`ResilientOracle`, `ChainlinkOracle`, `BoundValidator`): the
/// Compound-style devnet's oracle under any `[market] oracle` mechanism but `settable`.
pub const VENUS_ORACLE: NpmPackage = NpmPackage {
    name: "@venusprotocol/oracle",
    version: "2.16.0",
    integrity: "sha512-glqLXVBTL5zTSZsdw71aE3UZrH8CeRZfv5tKapZhP5Yi1in8HfKoNoWMqEji4lgBGCUArZJ85jVG9SesNDi8PA==",
    env_override: "LIQSIM_VENUS_ORACLE_ARTIFACTS",
    extra_artifact_dirs: &[],
};

/// Folder under which fetched packages and other caches live (`LIQSIM_CACHE_DIR`, else `.liqsim-cache`).
pub fn cache_root() -> PathBuf {
    std::env::var_os("LIQSIM_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(".liqsim-cache"))
}

/// One compiled contract as published: creation bytecode plus where libraries must be linked.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// Contract name.
    pub name: String,
    /// Creation bytecode with library placeholders still in it.
    pub bytecode: Vec<u8>,
    /// `"path:Library"` → byte offsets of its 20-byte placeholders.
    pub link_references: BTreeMap<String, Vec<usize>>,
}

#[derive(Deserialize)]
struct RawArtifact {
    #[serde(rename = "contractName")]
    contract_name: String,
    bytecode: String,
    #[serde(rename = "linkReferences", default)]
    link_references: BTreeMap<String, BTreeMap<String, Vec<RawLinkRef>>>,
}

#[derive(Deserialize)]
struct RawLinkRef {
    start: usize,
    length: usize,
}

/// An unpacked package: finds artifacts by contract name.
#[derive(Debug, Clone)]
pub struct ArtifactStore {
    root: PathBuf,
    by_name: HashMap<String, Vec<PathBuf>>,
}

impl ArtifactStore {
    /// Opens the package: an explicit folder, else the package's environment variable, else the
    /// cache (fetching it with `npm pack` the first time).
    pub fn open(package: &NpmPackage, explicit: Option<&Path>) -> Result<Self> {
        let root = match explicit {
            Some(path) => path.to_path_buf(),
            None => match std::env::var_os(package.env_override) {
                Some(path) => PathBuf::from(path),
                None => ensure_cached(package)?,
            },
        };
        Self::from_dir(&root)
    }

    /// Indexes an unpacked package folder (the one holding `artifacts/`).
    pub fn from_dir(root: &Path) -> Result<Self> {
        let artifacts = root.join("artifacts");
        if !artifacts.is_dir() {
            return Err(Error::Artifacts(format!(
                "{} has no artifacts/ folder; expected an unpacked npm package",
                root.display()
            )));
        }
        let mut by_name: HashMap<String, Vec<PathBuf>> = HashMap::new();
        let mut stack = vec![artifacts];
        while let Some(dir) = stack.pop() {
            let entries = fs::read_dir(&dir).map_err(|e| Error::io("listing", &dir, e))?;
            for entry in entries {
                let entry = entry.map_err(|e| Error::io("listing", &dir, e))?;
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Some(file) = path.file_name().and_then(|f| f.to_str()) {
                    if let Some(name) = file.strip_suffix(".json") {
                        if !name.ends_with(".dbg") && dir.extension().is_some_and(|e| e == "sol") {
                            by_name.entry(name.to_string()).or_default().push(path);
                        }
                    }
                }
            }
        }
        for paths in by_name.values_mut() {
            paths.sort();
        }
        Ok(Self {
            root: root.to_path_buf(),
            by_name,
        })
    }

    /// The unpacked package folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Loads a contract by name. Names published twice must be disambiguated with a path fragment
    /// (`mocks/tokens/WETH9Mocked`).
    pub fn artifact(&self, name: &str) -> Result<Artifact> {
        let (fragment, base) = match name.rsplit_once('/') {
            Some((fragment, base)) => (Some(fragment), base),
            None => (None, name),
        };
        let candidates: Vec<&PathBuf> = self
            .by_name
            .get(base)
            .map(|paths| {
                paths
                    .iter()
                    .filter(|p| fragment.is_none_or(|f| p.to_string_lossy().contains(f)))
                    .collect()
            })
            .unwrap_or_default();
        let path = match candidates.as_slice() {
            [one] => *one,
            [] => {
                return Err(Error::Artifacts(format!(
                    "no artifact named {name} under {}",
                    self.root.display()
                )))
            }
            many => {
                return Err(Error::Artifacts(format!(
                    "artifact name {name} is ambiguous: {}",
                    many.iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                )))
            }
        };
        Artifact::from_file(path)
    }
}

/// Hex-decodes unlinked bytecode: `__$…$__` placeholders become zero bytes (filled in by linking).
fn decode_unlinked_hex(hex_code: &str) -> std::result::Result<Vec<u8>, String> {
    if !hex_code.len().is_multiple_of(2) {
        return Err("bytecode has an odd number of hex digits".into());
    }
    let raw = hex_code.as_bytes();
    let mut out = Vec::with_capacity(raw.len() / 2);
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'_' {
            // a 40-hex-digit placeholder: `__$` + 34 hex + `$__`
            if i + 40 > raw.len() || &raw[i..i + 3] != b"__$" || &raw[i + 37..i + 40] != b"$__" {
                return Err(format!("malformed library placeholder at hex offset {i}"));
            }
            out.extend_from_slice(&[0u8; 20]);
            i += 40;
            continue;
        }
        let byte = hex::decode(&hex_code[i..i + 2])
            .map_err(|e| format!("invalid hex at offset {i}: {e}"))?;
        out.push(byte[0]);
        i += 2;
    }
    Ok(out)
}

impl Artifact {
    /// Loads one compiled-contract JSON file (Hardhat or Truffle format: `contractName`,
    /// `bytecode`, optional `linkReferences`).
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let raw: RawArtifact = serde_json::from_str(&text).map_err(|e| Error::InvalidFile {
            path: path.to_path_buf(),
            message: format!("not a compiled-contract artifact: {e}"),
        })?;
        let hex_code = raw.bytecode.trim_start_matches("0x");
        let bytecode = decode_unlinked_hex(hex_code).map_err(|message| Error::InvalidFile {
            path: path.to_path_buf(),
            message,
        })?;
        let mut link_references = BTreeMap::new();
        for (source, libs) in raw.link_references {
            for (lib, refs) in libs {
                let mut offsets = Vec::with_capacity(refs.len());
                for r in refs {
                    let expected = Artifact::placeholder(&format!("{source}:{lib}"));
                    let found = hex_code.get(2 * r.start..2 * r.start + 40);
                    if r.length != 20 || found != Some(expected.as_str()) {
                        return Err(Error::InvalidFile {
                            path: path.to_path_buf(),
                            message: format!(
                                "link reference {source}:{lib} at byte {} does not hold its placeholder {expected}",
                                r.start
                            ),
                        });
                    }
                    offsets.push(r.start);
                }
                link_references.insert(format!("{source}:{lib}"), offsets);
            }
        }
        Ok(Artifact {
            name: raw.contract_name,
            bytecode,
            link_references,
        })
    }

    /// The placeholder text Solidity writes for a library: `__$` + 34 hex of keccak256(`path:Name`) + `$__`.
    pub fn placeholder(fully_qualified: &str) -> String {
        let hash = keccak256(fully_qualified.as_bytes());
        format!("__${}$__", &hex::encode(hash)[..34])
    }

    /// Creation bytecode with every library placeholder replaced by its deployed address;
    /// `libraries` is keyed by library name (e.g. `BorrowLogic`).
    pub fn linked_bytecode(&self, libraries: &HashMap<String, Address>) -> Result<Bytes> {
        let mut code = self.bytecode.clone();
        for (fq, offsets) in &self.link_references {
            let lib = fq.rsplit(':').next().unwrap_or(fq);
            let address = libraries.get(lib).ok_or_else(|| Error::Link {
                contract: self.name.clone(),
                message: format!("library {fq} has not been deployed"),
            })?;
            for &offset in offsets {
                code[offset..offset + 20].copy_from_slice(address.as_slice());
            }
        }
        Ok(Bytes::from(code))
    }

    /// Creation bytecode for a contract that links nothing.
    pub fn unlinked_bytecode(&self) -> Result<Bytes> {
        if let Some(fq) = self.link_references.keys().next() {
            return Err(Error::Link {
                contract: self.name.clone(),
                message: format!("needs library {fq} linked first"),
            });
        }
        Ok(Bytes::from(self.bytecode.clone()))
    }

    /// Names of the libraries this contract links.
    pub fn libraries(&self) -> Vec<String> {
        self.link_references
            .keys()
            .map(|fq| fq.rsplit(':').next().unwrap_or(fq).to_string())
            .collect()
    }
}

/// Returns the unpacked package folder in the cache, fetching it with the npm client if absent.
fn ensure_cached(package: &NpmPackage) -> Result<PathBuf> {
    let extra_dirs = package.extra_artifact_dirs;
    fetch_npm_package(
        package,
        &|text: &str| is_artifact_entry(text, extra_dirs),
        "artifacts",
    )
}

/// Whether a tarball entry is part of what liqsim reads from a contracts package: compiled
/// artifacts under `artifacts/contracts/` (and the package's `extra_dirs` under `artifacts/`),
/// `package.json` and the licence.
fn is_artifact_entry(text: &str, extra_dirs: &[&str]) -> bool {
    let under_artifacts = text.starts_with("package/artifacts/contracts/")
        || extra_dirs.iter().any(|dir| {
            text.strip_prefix("package/artifacts/")
                .is_some_and(|rest| rest.starts_with(dir))
        });
    (under_artifacts && !text.ends_with(".dbg.json"))
        || text == "package/package.json"
        || text.starts_with("package/LICENSE")
}

/// Fetches `package` with `npm pack` into the cache (once), checks the tarball against its pinned
/// integrity, unpacks only the entries `wanted` accepts (paths as in the tarball, e.g.
/// `package/bin/anvil`; file modes are kept) and returns the unpacked `package/` folder.
/// `ready` is a path inside that folder whose presence means the package is complete.
pub fn fetch_npm_package(
    package: &NpmPackage,
    wanted: &dyn Fn(&str) -> bool,
    ready: &str,
) -> Result<PathBuf> {
    let dir = cache_root()
        .join("npm")
        .join(package.name.replace('/', "__"))
        .join(package.version);
    let unpacked = dir.join("package");
    if unpacked.join(ready).exists() && dir.join("VERIFIED").is_file() {
        return Ok(unpacked);
    }
    fs::create_dir_all(&dir).map_err(|e| Error::io("creating", &dir, e))?;
    // One fetch at a time per package version: a concurrent run waits, then finds it complete
    // (a published tree is never removed while another process may be reading it).
    let _lock = crate::data::folder::lock_exclusive(&unpacked)?;
    if unpacked.join(ready).exists() && dir.join("VERIFIED").is_file() {
        return Ok(unpacked);
    }
    let staging = tempdir_in(&dir)?;
    tracing::info!(
        package = package.name,
        version = package.version,
        "fetching npm package with npm pack"
    );
    let spec = format!("{}@{}", package.name, package.version);
    let output = Command::new("npm")
        .args(["pack", &spec, "--json", "--silent", "--pack-destination"])
        .arg(&staging)
        .output()
        .map_err(|e| {
            Error::Artifacts(format!(
                "could not run `npm` ({e}). Install Node.js with npm, or unpack {spec} yourself and set {} to it",
                package.env_override
            ))
        })?;
    if !output.status.success() {
        let _ = fs::remove_dir_all(&staging);
        return Err(Error::Artifacts(format!(
            "`npm pack {spec}` failed ({}): {}. Check that the npm registry is reachable, or unpack the package yourself and set {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim(),
            package.env_override
        )));
    }
    let tarball = fs::read_dir(&staging)
        .map_err(|e| Error::io("listing", &staging, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "tgz"))
        .ok_or_else(|| Error::Artifacts(format!("`npm pack {spec}` produced no tarball")))?;
    let bytes = fs::read(&tarball).map_err(|e| Error::io("reading", &tarball, e))?;
    verify_integrity(&bytes, package.integrity).map_err(|message| Error::InvalidFile {
        path: tarball.clone(),
        message,
    })?;
    let extract_to = staging.join("x");
    extract_entries(&bytes, &extract_to, wanted)
        .map_err(|e| Error::io("unpacking", &tarball, e))?;
    // Atomic publish: rename the verified tree into place; a concurrent winner is fine.
    if unpacked.exists() {
        let _ = fs::remove_dir_all(&unpacked);
    }
    match fs::rename(extract_to.join("package"), &unpacked) {
        Ok(()) => {}
        Err(_) if unpacked.join(ready).exists() => {}
        Err(e) => return Err(Error::io("moving into place", &unpacked, e)),
    }
    fs::write(dir.join("VERIFIED"), package.integrity)
        .map_err(|e| Error::io("writing", dir.join("VERIFIED"), e))?;
    let _ = fs::remove_dir_all(&staging);
    Ok(unpacked)
}

fn tempdir_in(dir: &Path) -> Result<PathBuf> {
    let path = dir.join(format!(
        ".staging-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let path = PathBuf::from(path.to_string_lossy().replace(['(', ')'], ""));
    let _ = fs::remove_dir_all(&path);
    fs::create_dir_all(&path).map_err(|e| Error::io("creating", &path, e))?;
    Ok(path)
}

/// Checks a tarball against an npm `sha512-<base64>` integrity string.
pub fn verify_integrity(bytes: &[u8], integrity: &str) -> std::result::Result<(), String> {
    let expected = integrity
        .strip_prefix("sha512-")
        .ok_or_else(|| format!("unsupported integrity string {integrity}"))?;
    let actual = base64::engine::general_purpose::STANDARD.encode(Sha512::digest(bytes));
    if actual != expected {
        return Err(format!(
            "integrity mismatch: expected sha512-{expected}, got sha512-{actual}; the download is damaged or not the pinned package"
        ));
    }
    Ok(())
}

/// Unpacks the entries `wanted` accepts from a `.tgz`, keeping their file modes.
fn extract_entries(tgz: &[u8], dest: &Path, wanted: &dyn Fn(&str) -> bool) -> std::io::Result<()> {
    let mut archive = tar::Archive::new(flate2::read::GzDecoder::new(tgz));
    for entry in archive.entries()? {
        let mut entry = entry?;
        let path = entry.path()?.into_owned();
        let text = path.to_string_lossy();
        if !wanted(&text)
            || path
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            continue;
        }
        let mode = entry.header().mode().unwrap_or(0o644);
        let target = dest.join(&path);
        if let Some(parent) = target.parent() {
            fs::create_dir_all(parent)?;
        }
        let mut buf = Vec::new();
        entry.read_to_end(&mut buf)?;
        fs::write(&target, buf)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            fs::set_permissions(&target, fs::Permissions::from_mode(mode & 0o755))?;
        }
        #[cfg(not(unix))]
        let _ = mode;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholder_matches_solidity_format() {
        let p =
            Artifact::placeholder("contracts/protocol/libraries/logic/BorrowLogic.sol:BorrowLogic");
        assert_eq!(p.len(), 40);
        assert!(p.starts_with("__$") && p.ends_with("$__"));
    }

    #[test]
    fn integrity_detects_a_flipped_byte() {
        let data = b"hello".to_vec();
        let good = format!(
            "sha512-{}",
            base64::engine::general_purpose::STANDARD.encode(Sha512::digest(&data))
        );
        assert!(verify_integrity(&data, &good).is_ok());
        assert!(verify_integrity(b"hellp", &good).is_err());
    }

    #[test]
    fn unlinked_hex_keeps_offsets() {
        let placeholder = Artifact::placeholder("a.sol:L");
        let code = format!("6001{placeholder}00");
        let bytes = decode_unlinked_hex(&code).unwrap();
        assert_eq!(bytes.len(), 2 + 20 + 1);
        assert_eq!(bytes[0], 0x60);
        assert_eq!(bytes[22], 0x00);
    }
}
