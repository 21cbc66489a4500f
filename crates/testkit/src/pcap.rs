//! Reads classic pcap files (`tcpdump -w`), in either byte order, with micro- or nanosecond
//! timestamps.

use std::time::Duration;

/// One captured frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Capture time since the Unix epoch.
    pub timestamp: Duration,
    /// The frame as captured (Ethernet header first).
    pub data: Vec<u8>,
}

/// Parses a whole capture file.
pub fn parse(bytes: &[u8]) -> Result<Vec<Record>, String> {
    let header = bytes.get(..24).ok_or("shorter than a pcap header")?;
    let magic = [header[0], header[1], header[2], header[3]];
    let (little, nanos) = match magic {
        [0xD4, 0xC3, 0xB2, 0xA1] => (true, false),
        [0x4D, 0x3C, 0xB2, 0xA1] => (true, true),
        [0xA1, 0xB2, 0xC3, 0xD4] => (false, false),
        [0xA1, 0xB2, 0x3C, 0x4D] => (false, true),
        _ => return Err(format!("not a pcap file (magic {magic:02x?})")),
    };
    let u32_at = |b: &[u8], at: usize| -> Result<u32, String> {
        let raw: [u8; 4] = b
            .get(at..at + 4)
            .and_then(|s| s.try_into().ok())
            .ok_or("truncated record header")?;
        Ok(if little {
            u32::from_le_bytes(raw)
        } else {
            u32::from_be_bytes(raw)
        })
    };
    let mut records = Vec::new();
    let mut at = 24;
    // A capture stopped mid-write may end in a partial record: keep what is complete.
    while at + 16 <= bytes.len() {
        let secs = u32_at(bytes, at)?;
        let frac = u32_at(bytes, at + 4)?;
        let len = u32_at(bytes, at + 8)? as usize;
        let Some(data) = bytes.get(at + 16..at + 16 + len) else {
            break;
        };
        let frac = if nanos {
            Duration::from_nanos(u64::from(frac))
        } else {
            Duration::from_micros(u64::from(frac))
        };
        records.push(Record {
            timestamp: Duration::from_secs(u64::from(secs)) + frac,
            data: data.to_vec(),
        });
        at += 16 + len;
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_microsecond_little_endian_captures() {
        let mut file = vec![0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0];
        file.extend_from_slice(&[0; 8]);
        file.extend_from_slice(&65535u32.to_le_bytes());
        file.extend_from_slice(&1u32.to_le_bytes());
        for (secs, micros, data) in [(10u32, 5u32, &[1u8, 2, 3][..]), (11, 999_999, &[4][..])] {
            file.extend_from_slice(&secs.to_le_bytes());
            file.extend_from_slice(&micros.to_le_bytes());
            file.extend_from_slice(&(data.len() as u32).to_le_bytes());
            file.extend_from_slice(&(data.len() as u32).to_le_bytes());
            file.extend_from_slice(data);
        }
        file.extend_from_slice(&[0; 7]); // a partial record at the end
        let records = parse(&file).unwrap();
        assert_eq!(records.len(), 2);
        assert_eq!(records[0].timestamp, Duration::new(10, 5_000));
        assert_eq!(records[1].data, [4]);
        assert!(parse(&[0; 24]).is_err());
    }
}
