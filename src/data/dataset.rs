//! Recorded-window datasets on disk: a folder `datasets/<name>/` holding `manifest.json` and one
//! Parquet file per record kind, each protected by a sha256 content hash in the manifest.
//!
//! Layout (column names are the record field names; rows keep the order of the [`Window`]):
//!
//! | file                   | columns                                                               |
//! |------------------------|-----------------------------------------------------------------------|
//! | `accounts.parquet`     | `address` bin20, `balance` bin32 (big-endian), `nonce` u64, `code_hash` bin32 |
//! | `code.parquet`         | `code_hash` bin32, `code` binary                                      |
//! | `storage.parquet`      | `address` bin20, `slot` bin32, `value` bin32                          |
//! | `blocks.parquet`       | `number`, `timestamp`, `base_fee`, `gas_limit` u64, `beneficiary` bin20, `prevrandao` bin32, `difficulty` bin32 |
//! | `transactions.parquet` | `block` u64, `index` u32, `hash` bin32, `raw` binary                  |
//! | `receipts.parquet`     | `block` u64, `index` u32, `success` bool, `gas_used` u64, `cumulative_gas_used` u64 |
//! | `logs.parquet`         | `block` u64, `tx_index` u32, `log_index` u32, `address` bin20, `topics` binary (32-byte topics concatenated), `data` binary |
//!
//! Files are written uncompressed, single-threaded and without timestamps, so the same
//! [`Window`] always gives byte-identical files (and therefore the same manifest hashes).

use std::collections::BTreeMap;
use std::fs;
use std::io::{Cursor, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, Bytes, B256, U256};
use polars::prelude::{
    BinaryChunked, Column, DataFrame, NamedFrom, ParquetCompression, ParquetReader, ParquetWriter,
    SerReader, Series,
};
use sha2::{Digest, Sha256};

use crate::data::records::{
    AccountRecord, BlockRecord, CodeRecord, LogRecord, Manifest, ReceiptRecord, StorageRecord,
    TransactionRecord, Window, FORMAT_VERSION,
};
use crate::error::{Error, Result};

/// Name of the manifest file inside a dataset folder.
pub const MANIFEST_FILE: &str = "manifest.json";
/// Pre-state accounts file.
pub const ACCOUNTS_FILE: &str = "accounts.parquet";
/// Pre-state code file.
pub const CODE_FILE: &str = "code.parquet";
/// Pre-state storage file.
pub const STORAGE_FILE: &str = "storage.parquet";
/// Block headers file.
pub const BLOCKS_FILE: &str = "blocks.parquet";
/// Transactions file.
pub const TRANSACTIONS_FILE: &str = "transactions.parquet";
/// Receipts file.
pub const RECEIPTS_FILE: &str = "receipts.parquet";
/// Logs file.
pub const LOGS_FILE: &str = "logs.parquet";

/// Every data file of a dataset, in the order they are written.
pub const DATA_FILES: [&str; 7] = [
    ACCOUNTS_FILE,
    CODE_FILE,
    STORAGE_FILE,
    BLOCKS_FILE,
    TRANSACTIONS_FILE,
    RECEIPTS_FILE,
    LOGS_FILE,
];

/// Most topics a log can have (LOG0..LOG4).
const MAX_TOPICS: usize = 4;

// ---------------------------------------------------------------------------------------------
// Writing
// ---------------------------------------------------------------------------------------------

/// Writes `window` as a dataset folder at `dir` and returns the manifest written.
///
/// The manifest is the window's, with `format_version` set to [`FORMAT_VERSION`] and `files`
/// replaced by the sha256 of every data file. Output is deterministic: the same window always
/// gives byte-identical files. The write goes through [`crate::data::folder::replace`]: `dir`
/// must be absent, empty or a folder liqsim wrote (refused otherwise, before anything is
/// written), and the replacement is atomic and locked against concurrent writers.
pub fn write_dataset(dir: &Path, window: &Window) -> Result<Manifest> {
    crate::data::folder::replace(dir, crate::data::folder::FolderKind::Dataset, |tmp| {
        write_into(tmp, window)
    })
}

/// [`write_dataset`] for a caller already holding the lock of
/// [`crate::data::folder::lock_exclusive`] on `dir`.
pub fn write_dataset_locked(dir: &Path, window: &Window) -> Result<Manifest> {
    crate::data::folder::replace_locked(dir, crate::data::folder::FolderKind::Dataset, |tmp| {
        write_into(tmp, window)
    })
}

/// Writes all files into the (fresh) folder `dir`, manifest last.
fn write_into(dir: &Path, window: &Window) -> Result<Manifest> {
    let tables: [(&str, FrameResult); 7] = [
        (AccountRecord::FILE, AccountRecord::frame(&window.accounts)),
        (CodeRecord::FILE, CodeRecord::frame(&window.code)),
        (StorageRecord::FILE, StorageRecord::frame(&window.storage)),
        (BlockRecord::FILE, BlockRecord::frame(&window.blocks)),
        (
            TransactionRecord::FILE,
            TransactionRecord::frame(&window.transactions),
        ),
        (ReceiptRecord::FILE, ReceiptRecord::frame(&window.receipts)),
        (LogRecord::FILE, LogRecord::frame(&window.logs)),
    ];

    let mut files = BTreeMap::new();
    for (name, frame) in tables {
        let path = dir.join(name);
        let mut frame = frame.map_err(|e| Error::InvalidFile {
            path: path.clone(),
            message: format!("cannot build table: {e}"),
        })?;
        let bytes = parquet_bytes(&mut frame).map_err(|e| Error::InvalidFile {
            path: path.clone(),
            message: format!("cannot encode Parquet: {e}"),
        })?;
        write_file_synced(&path, &bytes)?;
        files.insert(name.to_string(), sha256_hex(&bytes));
    }

    let mut manifest = window.manifest.clone();
    manifest.format_version = FORMAT_VERSION;
    manifest.files = files;
    let path = dir.join(MANIFEST_FILE);
    let mut json = serde_json::to_vec_pretty(&manifest).map_err(|e| Error::InvalidFile {
        path: path.clone(),
        message: format!("cannot encode manifest: {e}"),
    })?;
    json.push(b'\n');
    write_file_synced(&path, &json)?;
    Ok(manifest)
}

/// Encodes a frame as deterministic Parquet bytes (uncompressed, single-threaded).
pub(crate) fn parquet_bytes(frame: &mut DataFrame) -> polars::prelude::PolarsResult<Vec<u8>> {
    let mut bytes = Vec::new();
    ParquetWriter::new(&mut bytes)
        .with_compression(ParquetCompression::Uncompressed)
        .set_parallel(false)
        .finish(frame)?;
    Ok(bytes)
}

pub(crate) fn write_file_synced(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut file = fs::File::create(path).map_err(|e| Error::io("creating", path, e))?;
    file.write_all(bytes)
        .map_err(|e| Error::io("writing", path, e))?;
    file.sync_all().map_err(|e| Error::io("syncing", path, e))
}

/// Writes `bytes` to `path` atomically: a synced temporary file beside it (named by process and
/// thread, so concurrent writers never share one), renamed into place; the parent folder is
/// created when missing, and the temporary file removed when the rename fails.
pub(crate) fn write_file_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        fs::create_dir_all(parent).map_err(|e| Error::io("creating", parent, e))?;
    }
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(format!(
        ".tmp-{}-{:?}",
        std::process::id(),
        std::thread::current().id()
    ));
    let tmp = std::path::PathBuf::from(tmp.to_string_lossy().replace(['(', ')'], ""));
    write_file_synced(&tmp, bytes)?;
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::io("renaming into place", path, e)
    })
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

type FrameResult = polars::prelude::PolarsResult<DataFrame>;

/// One Parquet table of a dataset: its file, and its rows written and read through the columns
/// it is declared with (in [`dataset_tables!`], once per record kind).
trait DatasetTable: Sized {
    /// The file it is stored in.
    const FILE: &'static str;
    /// Its rows as a frame.
    fn frame(rows: &[Self]) -> FrameResult;
    /// Its rows from a decoded file.
    fn parse(t: &Table) -> Result<Vec<Self>>;
}

/// How one field type is stored in a Parquet column (written and read the same way).
trait ColumnCodec: Sized {
    /// The column `name` holding `values`.
    fn column<'a>(name: &str, values: impl Iterator<Item = &'a Self>) -> Column
    where
        Self: 'a;
    /// The values of column `name` (every row, type- and length-checked).
    fn read(t: &Table, name: &str) -> Result<Vec<Self>>;
}

fn bin_col<'a>(name: &str, values: impl Iterator<Item = &'a [u8]>) -> Column {
    let values: Vec<&[u8]> = values.collect();
    Series::new(name.into(), values).into()
}

/// Fixed-width binary columns: addresses (20 bytes), hashes and 256-bit integers (32 bytes,
/// big-endian).
macro_rules! fixed_codec {
    ($t:ty, $read:ident, |$v:ident| $bytes:expr) => {
        impl ColumnCodec for $t {
            fn column<'a>(name: &str, values: impl Iterator<Item = &'a Self>) -> Column {
                let bytes: Vec<_> = values.map(|$v| $bytes).collect();
                bin_col(name, bytes.iter().map(|b| b.as_slice()))
            }
            fn read(t: &Table, name: &str) -> Result<Vec<Self>> {
                t.$read(name)
            }
        }
    };
}
fixed_codec!(Address, addresses, |v| v.0 .0);
fixed_codec!(B256, b256s, |v| v.0);
fixed_codec!(U256, u256s, |v| v.to_be_bytes::<32>());

/// Plain columns: integers and booleans.
macro_rules! plain_codec {
    ($t:ty, $read:ident) => {
        impl ColumnCodec for $t {
            fn column<'a>(name: &str, values: impl Iterator<Item = &'a Self>) -> Column {
                Series::new(name.into(), values.copied().collect::<Vec<$t>>()).into()
            }
            fn read(t: &Table, name: &str) -> Result<Vec<Self>> {
                t.$read(name)
            }
        }
    };
}
plain_codec!(u64, u64s);
plain_codec!(u32, u32s);
plain_codec!(bool, bools);

impl ColumnCodec for Bytes {
    fn column<'a>(name: &str, values: impl Iterator<Item = &'a Self>) -> Column {
        bin_col(name, values.map(|v| v.as_ref()))
    }
    fn read(t: &Table, name: &str) -> Result<Vec<Self>> {
        Ok(t.binary(name)?.into_iter().map(Bytes::from).collect())
    }
}

/// A log's topics: 0 to 4 32-byte topics, concatenated.
impl ColumnCodec for Vec<B256> {
    fn column<'a>(name: &str, values: impl Iterator<Item = &'a Self>) -> Column {
        let packed: Vec<Vec<u8>> = values
            .map(|v| v.iter().flat_map(|t| t.0).collect())
            .collect();
        bin_col(name, packed.iter().map(|t| t.as_slice()))
    }
    fn read(t: &Table, name: &str) -> Result<Vec<Self>> {
        t.binary(name)?
            .into_iter()
            .enumerate()
            .map(|(i, topics)| {
                if topics.len() % 32 != 0 || topics.len() / 32 > MAX_TOPICS {
                    return Err(t.invalid(format!(
                        "column `{name}` row {i}: expected 0 to {MAX_TOPICS} 32-byte topics, found {} bytes",
                        topics.len()
                    )));
                }
                Ok(topics.chunks_exact(32).map(B256::from_slice).collect())
            })
            .collect()
    }
}

/// Declares each record kind's table once: its file and its columns, in order (a column is named
/// after its field), which both writing and reading follow.
macro_rules! dataset_tables {
    ($( $record:ident in $file:ident { $($field:ident),+ $(,)? } )+) => {
        $(
            impl DatasetTable for $record {
                const FILE: &'static str = $file;
                fn frame(rows: &[Self]) -> FrameResult {
                    DataFrame::new(
                        rows.len(),
                        vec![$(ColumnCodec::column(stringify!($field), rows.iter().map(|r| &r.$field))),+],
                    )
                }
                fn parse(t: &Table) -> Result<Vec<Self>> {
                    $(let mut $field = ColumnCodec::read(t, stringify!($field))?.into_iter();)+
                    (0..t.height())
                        .map(|row| {
                            Ok(Self {
                                $($field: $field.next().ok_or_else(|| t.null(stringify!($field), row))?,)+
                            })
                        })
                        .collect()
                }
            }
        )+
    };
}

dataset_tables! {
    AccountRecord in ACCOUNTS_FILE { address, balance, nonce, code_hash }
    CodeRecord in CODE_FILE { code_hash, code }
    StorageRecord in STORAGE_FILE { address, slot, value }
    BlockRecord in BLOCKS_FILE {
        number, timestamp, base_fee, gas_limit, beneficiary, prevrandao, difficulty
    }
    TransactionRecord in TRANSACTIONS_FILE { block, index, hash, raw }
    ReceiptRecord in RECEIPTS_FILE { block, index, success, gas_used, cumulative_gas_used }
    LogRecord in LOGS_FILE { block, tx_index, log_index, address, topics, data }
}

// ---------------------------------------------------------------------------------------------
// Reading
// ---------------------------------------------------------------------------------------------

/// Reads and checks `<dir>/manifest.json` (without checking the data files).
///
/// Fails with [`Error::Io`] when the file is missing or unreadable, [`Error::InvalidFile`] when
/// it is not a valid manifest, lists a file name that is not a plain file name, or has a
/// `format_version` newer than [`FORMAT_VERSION`].
pub fn read_manifest(dir: &Path) -> Result<Manifest> {
    let path = dir.join(MANIFEST_FILE);
    let text = fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
    let manifest: Manifest = serde_json::from_slice(&text).map_err(|e| Error::InvalidFile {
        path: path.clone(),
        message: format!("not a valid dataset manifest: {e}"),
    })?;
    if manifest.format_version > FORMAT_VERSION {
        return Err(Error::InvalidFile {
            path,
            message: format!(
                "dataset format version {} is newer than this liqsim understands ({}); upgrade liqsim",
                manifest.format_version, FORMAT_VERSION
            ),
        });
    }
    if let Some(bad) = manifest.files.keys().find(|name| !is_plain_file_name(name)) {
        return Err(Error::InvalidFile {
            path,
            message: format!(
                "lists `{bad}`, which is not a plain file name inside the dataset folder"
            ),
        });
    }
    Ok(manifest)
}

/// What a dataset folder holds compared with what a run wants there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatasetStatus {
    /// No folder, or an empty one: build it.
    Absent,
    /// A readable dataset that is the one wanted: use it.
    Current,
    /// A readable dataset of something else (e.g. an edited scenario): rebuild it.
    Stale,
}

/// Tells whether the dataset at `dir` is absent, current (`is_current` accepts its manifest) or
/// stale. A folder whose manifest cannot be read (missing, damaged, a newer `format_version`)
/// is an error naming the problem: liqsim never rebuilds over a dataset it cannot read.
pub fn dataset_status(dir: &Path, is_current: impl Fn(&Manifest) -> bool) -> Result<DatasetStatus> {
    match fs::read_dir(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(DatasetStatus::Absent),
        Err(e) => return Err(Error::io("reading dataset folder", dir, e)),
        Ok(mut entries) => {
            if entries.next().is_none() {
                return Ok(DatasetStatus::Absent);
            }
        }
    }
    let manifest = read_manifest(dir).map_err(|e| Error::InvalidFile {
        path: dir.to_path_buf(),
        message: format!(
            "this dataset cannot be read ({e}); liqsim does not rebuild over a dataset it cannot read: move or delete it yourself, or use another --datasets folder"
        ),
    })?;
    Ok(if is_current(&manifest) {
        DatasetStatus::Current
    } else {
        DatasetStatus::Stale
    })
}

/// True for a single path component that stays inside the folder (`a.parquet`, not `../x`).
fn is_plain_file_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && !name.contains('/')
        && !name.contains('\\')
        && !name.contains('\0')
}

/// Checks the content hash of every file listed in the manifest of the dataset at `dir`, and
/// returns the manifest. Does not parse the data files.
pub fn verify_dataset(dir: &Path) -> Result<Manifest> {
    let manifest = read_manifest(dir)?;
    verified_files(dir, &manifest)?;
    Ok(manifest)
}

/// Reads every file the manifest lists and checks its hash; returns name → bytes.
fn verified_files(dir: &Path, manifest: &Manifest) -> Result<BTreeMap<String, Vec<u8>>> {
    let mut out = BTreeMap::new();
    for (name, expected) in &manifest.files {
        let path = dir.join(name);
        let bytes = fs::read(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::InvalidFile {
                    path: path.clone(),
                    message: format!("listed in {MANIFEST_FILE} but missing from the dataset"),
                }
            } else {
                Error::io("reading", &path, e)
            }
        })?;
        let found = sha256_hex(&bytes);
        if !found.eq_ignore_ascii_case(expected) {
            return Err(Error::InvalidFile {
                path,
                message: format!(
                    "content hash mismatch (expected {expected}, found {found}): the file is damaged or was edited"
                ),
            });
        }
        out.insert(name.clone(), bytes);
    }
    Ok(out)
}

/// Reads the dataset at `dir`: its manifest, then every listed file after checking its hash,
/// then the seven data files into a [`Window`].
///
/// The returned window's manifest is the one on disk with `files` emptied: file hashes belong to
/// the on-disk copy (use [`read_manifest`] or [`verify_dataset`] to see them), so that
/// `read_dataset` gives back exactly the window that [`write_dataset`] was given (when that
/// window's `files` was empty and its `format_version` current).
///
/// Fails with [`Error::InvalidFile`] naming the file on a hash mismatch, a missing listed file,
/// a data file the manifest does not list, unreadable Parquet, or a column of the wrong type,
/// length or value (naming the column and row). Panics inside the Parquet decoder (polars 0.55
/// panics on some malformed files) are caught and reported as [`Error::InvalidFile`]. Limitation:
/// a file deliberately edited *and* re-hashed can still claim absurd sizes that make the decoder
/// abort on allocation failure; accidental damage is always caught by the hash check first.
pub fn read_dataset(dir: &Path) -> Result<Window> {
    let manifest = read_manifest(dir)?;
    let files = verified_files(dir, &manifest)?;
    let table = |name: &str| -> Result<Table> {
        let bytes = files.get(name).ok_or_else(|| Error::InvalidFile {
            path: dir.join(MANIFEST_FILE),
            message: format!("does not list the required file `{name}`"),
        })?;
        Table::parse(dir.join(name), bytes)
    };
    let accounts = AccountRecord::parse(&table(AccountRecord::FILE)?)?;
    let code = CodeRecord::parse(&table(CodeRecord::FILE)?)?;
    let storage = StorageRecord::parse(&table(StorageRecord::FILE)?)?;
    let blocks = BlockRecord::parse(&table(BlockRecord::FILE)?)?;
    let transactions = TransactionRecord::parse(&table(TransactionRecord::FILE)?)?;
    let receipts = ReceiptRecord::parse(&table(ReceiptRecord::FILE)?)?;
    let logs = LogRecord::parse(&table(LogRecord::FILE)?)?;
    let mut manifest = manifest;
    manifest.files.clear();
    Ok(Window {
        manifest,
        accounts,
        code,
        storage,
        blocks,
        transactions,
        receipts,
        logs,
    })
}

/// A decoded Parquet file with typed, error-naming column accessors.
struct Table {
    path: PathBuf,
    frame: DataFrame,
}

impl Table {
    fn parse(path: PathBuf, bytes: &[u8]) -> Result<Self> {
        let decoded = catch_unwind(AssertUnwindSafe(|| {
            ParquetReader::new(Cursor::new(bytes)).finish()
        }));
        let frame = match decoded {
            Ok(Ok(frame)) => frame,
            Ok(Err(e)) => {
                return Err(Error::InvalidFile {
                    path,
                    message: format!("not a readable Parquet file: {e}"),
                })
            }
            Err(_) => {
                return Err(Error::InvalidFile {
                    path,
                    message: "not a readable Parquet file: the Parquet decoder failed".to_string(),
                })
            }
        };
        Ok(Self { path, frame })
    }

    fn height(&self) -> usize {
        self.frame.height()
    }

    fn invalid(&self, message: String) -> Error {
        Error::InvalidFile {
            path: self.path.clone(),
            message,
        }
    }

    fn column(&self, name: &str) -> Result<&Column> {
        self.frame
            .column(name)
            .map_err(|_| self.invalid(format!("missing column `{name}`")))
    }

    fn wrong_type(&self, name: &str, col: &Column, expected: &str) -> Error {
        self.invalid(format!(
            "column `{name}` has type {}, expected {expected}",
            col.dtype()
        ))
    }

    fn null(&self, name: &str, row: usize) -> Error {
        self.invalid(format!("column `{name}` row {row}: null value"))
    }

    fn check_len(&self, name: &str, len: usize) -> Result<()> {
        if len == self.height() {
            Ok(())
        } else {
            Err(self.invalid(format!(
                "column `{name}` has {len} rows, the table has {}",
                self.height()
            )))
        }
    }

    fn binary(&self, name: &str) -> Result<Vec<Vec<u8>>> {
        let col = self.column(name)?;
        let ca: &BinaryChunked = col
            .binary()
            .map_err(|_| self.wrong_type(name, col, "binary"))?;
        let values = ca
            .iter()
            .enumerate()
            .map(|(row, v)| v.map(<[u8]>::to_vec).ok_or_else(|| self.null(name, row)))
            .collect::<Result<Vec<_>>>()?;
        self.check_len(name, values.len())?;
        Ok(values)
    }

    fn fixed<const N: usize>(&self, name: &str) -> Result<Vec<[u8; N]>> {
        self.binary(name)?
            .into_iter()
            .enumerate()
            .map(|(row, v)| {
                <[u8; N]>::try_from(v.as_slice()).map_err(|_| {
                    self.invalid(format!(
                        "column `{name}` row {row}: expected {N} bytes, found {}",
                        v.len()
                    ))
                })
            })
            .collect()
    }

    fn addresses(&self, name: &str) -> Result<Vec<Address>> {
        Ok(self
            .fixed::<20>(name)?
            .into_iter()
            .map(Address::from)
            .collect())
    }

    fn b256s(&self, name: &str) -> Result<Vec<B256>> {
        Ok(self
            .fixed::<32>(name)?
            .into_iter()
            .map(B256::from)
            .collect())
    }

    fn u256s(&self, name: &str) -> Result<Vec<U256>> {
        Ok(self
            .fixed::<32>(name)?
            .into_iter()
            .map(U256::from_be_bytes)
            .collect())
    }

    /// The non-null values of a typed column (`get` fails when the column has another type).
    fn values<T>(
        &self,
        name: &str,
        expected: &str,
        get: impl Fn(&Column) -> Option<Vec<Option<T>>>,
    ) -> Result<Vec<T>> {
        let col = self.column(name)?;
        let values = get(col)
            .ok_or_else(|| self.wrong_type(name, col, expected))?
            .into_iter()
            .enumerate()
            .map(|(row, v)| v.ok_or_else(|| self.null(name, row)))
            .collect::<Result<Vec<_>>>()?;
        self.check_len(name, values.len())?;
        Ok(values)
    }

    fn u64s(&self, name: &str) -> Result<Vec<u64>> {
        self.values(name, "u64", |c| c.u64().ok().map(|ca| ca.iter().collect()))
    }

    fn u32s(&self, name: &str) -> Result<Vec<u32>> {
        self.values(name, "u32", |c| c.u32().ok().map(|ca| ca.iter().collect()))
    }

    fn bools(&self, name: &str) -> Result<Vec<bool>> {
        self.values(name, "bool", |c| {
            c.bool().ok().map(|ca| ca.iter().collect())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::records::{ProtocolInfo, Provenance};

    fn u64_col(name: &str, values: impl Iterator<Item = u64>) -> Column {
        let values: Vec<u64> = values.collect();
        ColumnCodec::column(name, values.iter())
    }

    fn u32_col(name: &str, values: impl Iterator<Item = u32>) -> Column {
        let values: Vec<u32> = values.collect();
        ColumnCodec::column(name, values.iter())
    }

    fn b(n: u8) -> B256 {
        B256::repeat_byte(n)
    }

    fn a(n: u8) -> Address {
        Address::repeat_byte(n)
    }

    fn sample_window() -> Window {
        let mut addresses = BTreeMap::new();
        addresses.insert("pool".to_string(), a(0xaa));
        addresses.insert("oracle".to_string(), a(0xbb));
        Window {
            manifest: Manifest {
                format_version: FORMAT_VERSION,
                name: "sample".to_string(),
                chain_id: 1,
                first_block: 100,
                last_block: 101,
                protocol: ProtocolInfo {
                    kind: "aave-v3".to_string(),
                    addresses,
                    details: serde_json::json!({"reserves": ["WETH", "USDC"]}),
                },
                provenance: Provenance {
                    kind: "devnet".to_string(),
                    liqsim_version: "0.1.0".to_string(),
                    scenario: Some("scenarios/crash.toml".to_string()),
                    scenario_sha256: None,
                    scenario_canonical: None,
                },
                files: BTreeMap::new(),
            },
            accounts: vec![
                AccountRecord {
                    address: a(2),
                    balance: U256::MAX,
                    nonce: 7,
                    code_hash: b(9),
                },
                AccountRecord {
                    address: a(1),
                    balance: U256::from(12345u64),
                    nonce: 0,
                    code_hash: b(8),
                },
            ],
            code: vec![
                CodeRecord {
                    code_hash: b(9),
                    code: Bytes::from(vec![0x60, 0x00, 0x56]),
                },
                CodeRecord {
                    code_hash: b(8),
                    code: Bytes::new(),
                },
            ],
            storage: vec![
                StorageRecord {
                    address: a(2),
                    slot: U256::from(5u64),
                    value: U256::from(1u64) << 200,
                },
                StorageRecord {
                    address: a(2),
                    slot: U256::ZERO,
                    value: U256::ZERO,
                },
            ],
            blocks: vec![
                BlockRecord {
                    number: 100,
                    timestamp: 1_700_000_000,
                    base_fee: 7,
                    gas_limit: 30_000_000,
                    beneficiary: a(0xcc),
                    prevrandao: b(3),
                    difficulty: U256::ZERO,
                },
                BlockRecord {
                    number: 101,
                    timestamp: 1_700_000_012,
                    base_fee: u64::MAX,
                    gas_limit: 30_000_000,
                    beneficiary: a(0xcd),
                    prevrandao: b(4),
                    difficulty: U256::from(131072u64),
                },
            ],
            transactions: vec![
                TransactionRecord {
                    block: 100,
                    index: 0,
                    hash: b(0x10),
                    raw: Bytes::from(vec![0x02, 0xf8, 0x01]),
                },
                TransactionRecord {
                    block: 101,
                    index: 3,
                    hash: b(0x11),
                    raw: Bytes::from(vec![0xf8; 300]),
                },
            ],
            receipts: vec![
                ReceiptRecord {
                    block: 100,
                    index: 0,
                    success: true,
                    gas_used: 21_000,
                    cumulative_gas_used: 21_000,
                },
                ReceiptRecord {
                    block: 101,
                    index: 3,
                    success: false,
                    gas_used: 50_000,
                    cumulative_gas_used: 90_000,
                },
            ],
            logs: vec![
                LogRecord {
                    block: 100,
                    tx_index: 0,
                    log_index: 0,
                    address: a(0xaa),
                    topics: vec![b(0x20), b(0x21), b(0x22), b(0x23)],
                    data: Bytes::from(vec![1, 2, 3]),
                },
                LogRecord {
                    block: 100,
                    tx_index: 0,
                    log_index: 1,
                    address: a(0xab),
                    topics: vec![],
                    data: Bytes::new(),
                },
                LogRecord {
                    block: 101,
                    tx_index: 3,
                    log_index: 0,
                    address: a(0xaa),
                    topics: vec![b(0x30)],
                    data: Bytes::from(vec![0u8; 64]),
                },
            ],
        }
    }

    /// A fresh, empty scratch folder unique to the test.
    fn scratch(test: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("liqsim-dataset-test-{}-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn message(err: &Error) -> String {
        err.to_string()
    }

    /// Rewrites the manifest's hash for `name` to match the file's current bytes.
    fn rehash(dir: &Path, name: &str) {
        let mut manifest = read_manifest(dir).unwrap();
        let bytes = fs::read(dir.join(name)).unwrap();
        manifest.files.insert(name.to_string(), sha256_hex(&bytes));
        fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
    }

    #[test]
    fn round_trip() {
        let root = scratch("round_trip");
        let dir = root.join("datasets").join("sample");
        let window = sample_window();
        let manifest = write_dataset(&dir, &window).unwrap();
        assert_eq!(manifest.files.len(), DATA_FILES.len());
        for name in DATA_FILES {
            assert_eq!(manifest.files[name].len(), 64, "{name}");
        }
        let read = read_dataset(&dir).unwrap();
        assert_eq!(read, window);
        assert_eq!(verify_dataset(&dir).unwrap(), manifest);
        assert_eq!(read_manifest(&dir).unwrap(), manifest);
        let mut without_files = manifest.clone();
        without_files.files.clear();
        assert_eq!(without_files, window.manifest);
        // No temporary folder is left behind.
        let leftovers: Vec<_> = fs::read_dir(dir.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(leftovers, vec![std::ffi::OsString::from("sample")]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn empty_window_round_trips() {
        let root = scratch("empty");
        let dir = root.join("empty");
        let mut window = sample_window();
        window.accounts.clear();
        window.code.clear();
        window.storage.clear();
        window.blocks.clear();
        window.transactions.clear();
        window.receipts.clear();
        window.logs.clear();
        write_dataset(&dir, &window).unwrap();
        assert_eq!(read_dataset(&dir).unwrap(), window);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn writing_is_deterministic_and_replaces_old_dataset() {
        let root = scratch("deterministic");
        let dir = root.join("sample");
        let window = sample_window();
        let first = write_dataset(&dir, &window).unwrap();
        let snapshot: Vec<(String, Vec<u8>)> = fs::read_dir(&dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    fs::read(e.path()).unwrap(),
                )
            })
            .collect();
        // The data files, the manifest and liqsim's marker.
        assert_eq!(snapshot.len(), DATA_FILES.len() + 2);
        // A stray file in a folder liqsim marked must not survive the rewrite.
        fs::write(dir.join("stray.txt"), b"x").unwrap();
        let second = write_dataset(&dir, &window).unwrap();
        assert_eq!(first, second);
        assert!(!dir.join("stray.txt").exists());
        for (name, bytes) in &snapshot {
            assert_eq!(&fs::read(dir.join(name)).unwrap(), bytes, "{name} differs");
        }
        // A different window gives different hashes.
        let mut other = window.clone();
        other.receipts[0].gas_used += 1;
        let third = write_dataset(&dir, &other).unwrap();
        assert_ne!(third.files[RECEIPTS_FILE], first.files[RECEIPTS_FILE]);
        assert_eq!(third.files[ACCOUNTS_FILE], first.files[ACCOUNTS_FILE]);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn flipped_byte_is_a_hash_mismatch_naming_the_file() {
        let root = scratch("flip");
        let dir = root.join("sample");
        write_dataset(&dir, &sample_window()).unwrap();
        let path = dir.join(RECEIPTS_FILE);
        let mut bytes = fs::read(&path).unwrap();
        let mid = bytes.len() / 2;
        bytes[mid] ^= 0x01;
        fs::write(&path, &bytes).unwrap();
        for err in [
            read_dataset(&dir).unwrap_err(),
            verify_dataset(&dir).unwrap_err(),
        ] {
            match &err {
                Error::InvalidFile { path, message } => {
                    assert!(path.ends_with(RECEIPTS_FILE), "{err}");
                    assert!(message.contains("content hash mismatch"), "{err}");
                }
                other => panic!("unexpected error {other}"),
            }
            assert!(message(&err).contains("receipts.parquet"), "{err}");
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn newer_format_version_is_refused() {
        let root = scratch("version");
        let dir = root.join("sample");
        let mut manifest = write_dataset(&dir, &sample_window()).unwrap();
        manifest.format_version = FORMAT_VERSION + 1;
        fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        for err in [
            read_manifest(&dir).unwrap_err(),
            read_dataset(&dir).unwrap_err(),
        ] {
            let text = message(&err);
            assert!(matches!(err, Error::InvalidFile { .. }), "{text}");
            assert!(
                text.contains(&format!(
                    "dataset format version {} is newer than this liqsim understands ({FORMAT_VERSION}); upgrade liqsim",
                    FORMAT_VERSION + 1
                )),
                "{text}"
            );
        }
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn truncated_parquet_with_matching_hash_is_invalid_file() {
        let root = scratch("truncated");
        let dir = root.join("sample");
        write_dataset(&dir, &sample_window()).unwrap();
        for keep in [0usize, 4, 20, 100] {
            let path = dir.join(LOGS_FILE);
            let bytes = fs::read(&path).unwrap();
            let cut = keep.min(bytes.len());
            fs::write(&path, &bytes[..cut]).unwrap();
            rehash(&dir, LOGS_FILE);
            verify_dataset(&dir).unwrap();
            let err = read_dataset(&dir).unwrap_err();
            match &err {
                Error::InvalidFile { path, message } => {
                    assert!(path.ends_with(LOGS_FILE), "{err}");
                    assert!(message.contains("Parquet"), "{err}");
                }
                other => panic!("unexpected error {other}"),
            }
            write_dataset(&dir, &sample_window()).unwrap();
        }
        // Cut just before the footer too.
        let path = dir.join(LOGS_FILE);
        let bytes = fs::read(&path).unwrap();
        fs::write(&path, &bytes[..bytes.len() - 9]).unwrap();
        rehash(&dir, LOGS_FILE);
        assert!(matches!(
            read_dataset(&dir).unwrap_err(),
            Error::InvalidFile { ref path, .. } if path.ends_with(LOGS_FILE)
        ));
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn corrupted_footer_bytes_never_panic() {
        let root = scratch("footer");
        let dir = root.join("sample");
        write_dataset(&dir, &sample_window()).unwrap();
        let path = dir.join(STORAGE_FILE);
        let original = fs::read(&path).unwrap();
        let mut failures = 0;
        // polars 0.55 panics on some corrupt footers (a few of these mutations trigger it):
        // they must come back as InvalidFile, never unwind out of read_dataset.
        let footer = original.len().saturating_sub(200)..original.len() - 8;
        for (pos, value) in footer.flat_map(|pos| (0..=255u8).step_by(15).map(move |v| (pos, v))) {
            let mut bytes = original.clone();
            bytes[pos] = value;
            fs::write(&path, &bytes).unwrap();
            rehash(&dir, STORAGE_FILE);
            if let Err(err) = read_dataset(&dir) {
                failures += 1;
                assert!(
                    matches!(&err, Error::InvalidFile { path, .. } if path.ends_with(STORAGE_FILE)),
                    "{err}"
                );
            }
        }
        assert!(failures > 0);
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn wrong_address_length_names_file_column_and_row() {
        let root = scratch("badaddr");
        let dir = root.join("sample");
        write_dataset(&dir, &sample_window()).unwrap();
        // Hand-craft an accounts table whose second address has 19 bytes.
        let short = [7u8; 19];
        let good = [1u8; 20];
        let word = [0u8; 32];
        let mut frame = DataFrame::new(
            2,
            vec![
                bin_col("address", [good.as_slice(), short.as_slice()].into_iter()),
                bin_col("balance", [word.as_slice(), word.as_slice()].into_iter()),
                u64_col("nonce", [1u64, 2].into_iter()),
                bin_col("code_hash", [word.as_slice(), word.as_slice()].into_iter()),
            ],
        )
        .unwrap();
        fs::write(dir.join(ACCOUNTS_FILE), parquet_bytes(&mut frame).unwrap()).unwrap();
        rehash(&dir, ACCOUNTS_FILE);
        let err = read_dataset(&dir).unwrap_err();
        let text = message(&err);
        assert!(matches!(err, Error::InvalidFile { .. }), "{text}");
        assert!(text.contains(ACCOUNTS_FILE), "{text}");
        assert!(text.contains("`address` row 1"), "{text}");
        assert!(text.contains("expected 20 bytes, found 19"), "{text}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn wrong_column_type_and_missing_column_are_reported() {
        let root = scratch("badtype");
        let dir = root.join("sample");
        write_dataset(&dir, &sample_window()).unwrap();
        // `index` stored as u64 instead of u32, and no `success` column.
        let mut frame = DataFrame::new(
            1,
            vec![
                u64_col("block", [1u64].into_iter()),
                u64_col("index", [0u64].into_iter()),
                u64_col("gas_used", [1u64].into_iter()),
                u64_col("cumulative_gas_used", [1u64].into_iter()),
            ],
        )
        .unwrap();
        fs::write(dir.join(RECEIPTS_FILE), parquet_bytes(&mut frame).unwrap()).unwrap();
        rehash(&dir, RECEIPTS_FILE);
        let text = message(&read_dataset(&dir).unwrap_err());
        assert!(text.contains(RECEIPTS_FILE), "{text}");
        assert!(text.contains("column `index`"), "{text}");
        assert!(text.contains("expected u32"), "{text}");

        let mut frame = DataFrame::new(
            1,
            vec![
                u64_col("block", [1u64].into_iter()),
                u32_col("index", [0u32].into_iter()),
                u64_col("gas_used", [1u64].into_iter()),
                u64_col("cumulative_gas_used", [1u64].into_iter()),
            ],
        )
        .unwrap();
        fs::write(dir.join(RECEIPTS_FILE), parquet_bytes(&mut frame).unwrap()).unwrap();
        rehash(&dir, RECEIPTS_FILE);
        let text = message(&read_dataset(&dir).unwrap_err());
        assert!(text.contains("missing column `success`"), "{text}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn bad_topics_length_is_reported() {
        let root = scratch("badtopics");
        let dir = root.join("sample");
        write_dataset(&dir, &sample_window()).unwrap();
        let topics = [0u8; 33];
        let addr = [0u8; 20];
        let mut frame = DataFrame::new(
            1,
            vec![
                u64_col("block", [1u64].into_iter()),
                u32_col("tx_index", [0u32].into_iter()),
                u32_col("log_index", [0u32].into_iter()),
                bin_col("address", [addr.as_slice()].into_iter()),
                bin_col("topics", [topics.as_slice()].into_iter()),
                bin_col("data", [[].as_slice()].into_iter()),
            ],
        )
        .unwrap();
        fs::write(dir.join(LOGS_FILE), parquet_bytes(&mut frame).unwrap()).unwrap();
        rehash(&dir, LOGS_FILE);
        let text = message(&read_dataset(&dir).unwrap_err());
        assert!(text.contains("logs.parquet"), "{text}");
        assert!(text.contains("`topics` row 0"), "{text}");
        fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn manifest_errors() {
        let root = scratch("manifest");
        let dir = root.join("sample");
        // Missing manifest: an I/O error naming the path.
        fs::create_dir_all(&dir).unwrap();
        let err = read_manifest(&dir).unwrap_err();
        assert!(matches!(err, Error::Io { .. }), "{err}");
        assert!(message(&err).contains("manifest.json"), "{err}");

        // Invalid JSON.
        fs::write(dir.join(MANIFEST_FILE), b"{ not json").unwrap();
        let err = read_manifest(&dir).unwrap_err();
        assert!(matches!(err, Error::InvalidFile { .. }), "{err}");
        assert!(message(&err).contains("manifest.json"), "{err}");

        // A folder liqsim did not write (here: an invalid manifest) is never replaced.
        assert!(write_dataset(&dir, &sample_window()).is_err());
        assert_eq!(fs::read(dir.join(MANIFEST_FILE)).unwrap(), b"{ not json");
        fs::remove_dir_all(&dir).unwrap();

        // A listed file that is missing.
        write_dataset(&dir, &sample_window()).unwrap();
        fs::remove_file(dir.join(CODE_FILE)).unwrap();
        let text = message(&read_dataset(&dir).unwrap_err());
        assert!(text.contains("code.parquet"), "{text}");
        assert!(text.contains("missing"), "{text}");

        // A required file that is not listed.
        write_dataset(&dir, &sample_window()).unwrap();
        let mut manifest = read_manifest(&dir).unwrap();
        manifest.files.remove(STORAGE_FILE);
        fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        let text = message(&read_dataset(&dir).unwrap_err());
        assert!(text.contains("storage.parquet"), "{text}");

        // A listed name escaping the folder.
        manifest
            .files
            .insert("../escape.parquet".to_string(), "00".to_string());
        fs::write(
            dir.join(MANIFEST_FILE),
            serde_json::to_vec_pretty(&manifest).unwrap(),
        )
        .unwrap();
        let text = message(&read_manifest(&dir).unwrap_err());
        assert!(text.contains("not a plain file name"), "{text}");
        fs::remove_dir_all(&root).unwrap();
    }
}
