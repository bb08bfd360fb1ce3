//! The block log: certified blocks appended to one file, found by an index in redb. Blocks live
//! outside redb on purpose: redb checksums its pages and refuses to open a database with a
//! damaged page, which would turn one flipped byte in one block into a node that cannot start.
//! Here a damaged block is just bytes that fail the node's own hash checks: it is named in an
//! alert, quarantined, and every other block is still served.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::Mutex;

#[cfg(unix)]
use std::os::unix::fs::FileExt;

/// Append-only file of length-prefixed block encodings.
pub(crate) struct BlockLog {
    /// The file for appending, and where it currently ends.
    append: Mutex<(File, u64)>,
    read: File,
}

impl BlockLog {
    /// Opens the log and cuts it back to `committed_end`: bytes past it were appended by a
    /// commit that never reached the index (a crash between the two), so they are not blocks.
    pub fn open(path: &Path, committed_end: u64) -> std::io::Result<BlockLog> {
        let mut append = OpenOptions::new()
            .create(true)
            .read(true)
            .write(true)
            .truncate(false)
            .open(path)?;
        let len = append.metadata()?.len();
        if len > committed_end {
            append.set_len(committed_end)?;
            append.sync_all()?;
        }
        let end = append.seek(SeekFrom::End(0))?;
        let read = File::open(path)?;
        Ok(BlockLog {
            append: Mutex::new((append, end)),
            read,
        })
    }

    /// Appends a block's bytes durably; returns its (offset, length).
    pub fn append(&self, at: u64, bytes: &[u8]) -> std::io::Result<(u64, u32)> {
        let len =
            u32::try_from(bytes.len()).map_err(|_| std::io::Error::other("block over 4 GiB"))?;
        let mut guard = self.append.lock().expect("block log lock");
        let (f, end) = &mut *guard;
        // Bytes past `at` belong to an append whose index commit failed: cut them off. In the
        // normal case the file already ends at `at` and no syscall is needed.
        if *end != at {
            f.set_len(at)?;
            f.seek(SeekFrom::Start(at))?;
            *end = at;
        }
        // Until the write and sync succeed, where the file ends is unknown.
        *end = u64::MAX;
        f.write_all(bytes)?;
        f.sync_data()?;
        *end = at + u64::from(len);
        Ok((at, len))
    }

    /// Overwrites the bytes of an existing block at `offset` (a repair with the same encoding),
    /// durably. Refuses anything past the end of the log.
    pub fn rewrite(&self, offset: u64, bytes: &[u8]) -> std::io::Result<()> {
        let guard = self.append.lock().expect("block log lock");
        let (f, end) = &*guard;
        if offset.saturating_add(bytes.len() as u64) > *end {
            return Err(std::io::Error::other(
                "a rewrite past the end of the block log",
            ));
        }
        #[cfg(unix)]
        f.write_all_at(bytes, offset)?;
        #[cfg(not(unix))]
        {
            let mut f = f.try_clone()?;
            f.seek(SeekFrom::Start(offset))?;
            f.write_all(bytes)?;
        }
        f.sync_data()
    }

    /// Reads `len` bytes at `offset`.
    pub fn read(&self, offset: u64, len: u32) -> std::io::Result<Vec<u8>> {
        let mut buf = vec![0u8; len as usize];
        #[cfg(unix)]
        self.read.read_exact_at(&mut buf, offset)?;
        #[cfg(not(unix))]
        {
            use std::io::Read;
            let mut f = self.read.try_clone()?;
            f.seek(SeekFrom::Start(offset))?;
            f.read_exact(&mut buf)?;
        }
        Ok(buf)
    }
}
