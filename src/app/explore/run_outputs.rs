//! A run's Parquet outputs as the explorer reads them (`--run out/<name>`): the strategies'
//! actions, misses and summary rows, as JSON objects.

use std::io::Cursor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};

use alloy_primitives::Address;
use polars::prelude::{AnyValue, DataFrame, ParquetReader, SerReader};
use serde::Serialize;
use serde_json::{Map, Value};

use crate::error::{Error, Result};

/// The rows of a run's outputs the explorer shows.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunOutputs {
    /// The output folder.
    pub dir: PathBuf,
    /// `actions.parquet`: one row per executed liquidation.
    pub actions: Vec<Map<String, Value>>,
    /// `missed.parquet`: one row per missed opportunity and strategy.
    pub missed: Vec<Map<String, Value>>,
    /// `summary.parquet`: one row per strategy × parameters.
    pub summary: Vec<Map<String, Value>>,
}

impl RunOutputs {
    /// Reads `actions.parquet`, `missed.parquet` and `summary.parquet` of an output folder.
    pub fn read(dir: &Path) -> Result<Self> {
        Ok(Self {
            dir: dir.to_path_buf(),
            actions: rows(&dir.join("actions.parquet"))?,
            missed: rows(&dir.join("missed.parquet"))?,
            summary: rows(&dir.join("summary.parquet"))?,
        })
    }

    /// The actions and misses concerning `user`, each with `kind` = `action` or `missed`.
    pub fn rows_of_user(&self, user: &Address) -> Vec<Value> {
        let key = format!("{user:#x}");
        let tagged = |rows: &[Map<String, Value>], kind: &str| -> Vec<Value> {
            rows.iter()
                .filter(|r| r.get("user").and_then(Value::as_str) == Some(key.as_str()))
                .map(|r| {
                    let mut r = r.clone();
                    r.insert("kind".into(), Value::String(kind.into()));
                    Value::Object(r)
                })
                .collect()
        };
        let mut out = tagged(&self.actions, "action");
        out.extend(tagged(&self.missed, "missed"));
        out
    }
}

fn frame(path: &Path) -> Result<DataFrame> {
    let bytes = std::fs::read(path).map_err(|source| Error::Io {
        action: "reading",
        path: path.to_path_buf(),
        source,
    })?;
    match catch_unwind(AssertUnwindSafe(|| {
        ParquetReader::new(Cursor::new(bytes)).finish()
    })) {
        Ok(Ok(frame)) => Ok(frame),
        Ok(Err(e)) => Err(Error::InvalidFile {
            path: path.to_path_buf(),
            message: format!("not a readable Parquet file: {e}"),
        }),
        Err(_) => Err(Error::InvalidFile {
            path: path.to_path_buf(),
            message: "not a readable Parquet file (the reader gave up)".into(),
        }),
    }
}

fn json(v: &AnyValue<'_>) -> Value {
    match v {
        AnyValue::Null => Value::Null,
        AnyValue::Boolean(b) => Value::Bool(*b),
        AnyValue::String(s) => Value::String((*s).to_string()),
        AnyValue::StringOwned(s) => Value::String(s.to_string()),
        AnyValue::UInt8(n) => Value::from(*n),
        AnyValue::UInt16(n) => Value::from(*n),
        AnyValue::UInt32(n) => Value::from(*n),
        AnyValue::UInt64(n) => Value::from(*n),
        AnyValue::Int32(n) => Value::from(*n),
        AnyValue::Int64(n) => Value::from(*n),
        AnyValue::Float32(f) => serde_json::Number::from_f64(f64::from(*f))
            .map(Value::Number)
            .unwrap_or(Value::Null),
        AnyValue::Float64(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        other => Value::String(other.to_string()),
    }
}

/// Every row of a Parquet file as a JSON object.
fn rows(path: &Path) -> Result<Vec<Map<String, Value>>> {
    let df = frame(path)?;
    let columns = df.columns();
    let mut out = Vec::with_capacity(df.height());
    for i in 0..df.height() {
        let mut row = Map::new();
        for c in columns {
            let value = c.get(i).map(|v| json(&v)).unwrap_or(Value::Null);
            row.insert(c.name().to_string(), value);
        }
        out.push(row);
    }
    Ok(out)
}
