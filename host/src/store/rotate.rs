//! `jules keys rotate`: re-seal every stored value under the active key, in batches,
//! while hosts keep serving. Each value is replaced only if it has not changed since
//! it was read (a concurrent write, already under the active key, wins), so rotation
//! never loses an update. It is resumable: a value already under the active key is
//! skipped, so an interrupted run is simply run again.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::Store;
use super::types::{SEALED_COLUMNS, SealedColumn, StoreError};
use crate::crypto::{Binding, key_id_of, open, seal};

/// What one column's pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ColumnReport {
    pub rotated: u64,
    pub already_current: u64,
    /// Changed by a host between read and write; the host's value stands.
    pub changed_meanwhile: u64,
}

#[derive(Debug, Clone, Default)]
pub struct RotationReport {
    pub columns: Vec<(SealedColumn, ColumnReport)>,
}

impl RotationReport {
    pub fn rotated(&self) -> u64 {
        self.columns.iter().map(|(_, r)| r.rotated).sum()
    }
}

/// Rotate every sealed column; `progress` hears each batch.
pub async fn rotate(
    store: &Store,
    batch: i64,
    mut progress: impl FnMut(SealedColumn, &ColumnReport),
) -> Result<RotationReport, StoreError> {
    let ring = &store.secrets().ring;
    let active = ring.active().as_str().to_string();
    let mut report = RotationReport::default();
    for &col in SEALED_COLUMNS {
        let mut done = ColumnReport::default();
        let mut after: Option<Uuid> = None;
        loop {
            let page = store.db().sealed_page(col, after, batch.max(1)).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (id, sealed) in &page {
                if key_id_of(sealed)? == active {
                    done.already_current += 1;
                    continue;
                }
                let row = id.to_string();
                let bind = Binding {
                    table: col.table,
                    column: col.column,
                    row: &row,
                };
                let plain = open(ring, bind, sealed)?;
                let fresh = seal(ring, bind, &plain);
                if store.db().replace_sealed(col, *id, sealed, &fresh).await? {
                    done.rotated += 1;
                } else {
                    done.changed_meanwhile += 1;
                }
            }
            progress(col, &done);
        }
        report.columns.push((col, done));
    }
    Ok(report)
}

/// How many stored values each key id seals (to tell when an old key can retire).
pub async fn census(store: &Store, batch: i64) -> Result<BTreeMap<String, u64>, StoreError> {
    let mut counts = BTreeMap::new();
    for &col in SEALED_COLUMNS {
        let mut after = None;
        loop {
            let page = store.db().sealed_page(col, after, batch.max(1)).await?;
            let Some((last, _)) = page.last() else { break };
            after = Some(*last);
            for (_, sealed) in &page {
                *counts.entry(key_id_of(sealed)?.to_string()).or_insert(0) += 1;
            }
        }
    }
    Ok(counts)
}
