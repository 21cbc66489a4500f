//! The requests that load a module into a QCA7000/7005 in bootloader mode
//! (VS_WRITE_AND_EXECUTE_APPLET), planned from the module's NVM header without I/O: the sans-IO
//! core of the bootloader path of a flasher.

use homeplug::vs_write_execute_applet::{FLAG_ABSOLUTE, FLAG_EXECUTE, MAX_PART, ReqRepr};

use crate::nvm::{Chain, Header, ImageType, Module, V2_HEADER_LEN};

/// The parts `plcboot` sends for a version 2 module, in order: the image cut into 1400-byte
/// parts written at the header's load address onwards (absolute addressing), each carrying the
/// module's length, entry point and checksum and the host's `cookie`. The last part asks the
/// modem to start the module when its entry point is word-aligned, and, as in `plcboot`, only a
/// last part shorter than 1400 bytes does. `None` for a version 1 module (INT6x00 bootloaders
/// take other messages).
pub fn applet_parts(module: &Module, cookie: u32) -> Option<Vec<ReqRepr>> {
    let Header::V2(h) = &module.header else {
        return None;
    };
    let mut flags = FLAG_ABSOLUTE;
    let mut offset = h.image_address;
    let mut parts = Vec::new();
    for chunk in module.image.chunks(MAX_PART) {
        if chunk.len() < MAX_PART && h.entry_point % 4 == 0 {
            flags |= FLAG_EXECUTE;
        }
        parts.push(ReqRepr {
            client_session: cookie,
            server_session: 0,
            flags,
            mem_types: [1, 0, 0, 0, 0, 0, 0, 0],
            total_length: h.image_length,
            part_offset: offset,
            start_address: h.entry_point,
            checksum: h.image_checksum,
            image: chunk.to_vec(),
        });
        offset = offset.wrapping_add(chunk.len() as u32);
    }
    Some(parts)
}

/// The parts `plcboot` sends to load a PIB file (a version 2 chain holding a PIB module) into a
/// bootloader-mode modem: the file's bytes from its start, written at the PIB module's load
/// address, in 1400-byte parts that never ask to execute and allow no memory type. The length
/// written is the first module's header and image plus the PIB module's header and image, which
/// is the whole file for the usual manifest + PIB file; unlike `plcboot`, which then fails
/// reading past the end of a one-module file, it never goes beyond the file. `None` if the
/// file is not a version 2 chain or holds no PIB module.
pub fn pib_parts(file: &[u8], cookie: u32) -> Option<Vec<ReqRepr>> {
    let chain = Chain::parse(file).ok()?;
    let first = chain.modules.first()?;
    let (module, h) = chain.modules.iter().find_map(|m| match &m.header {
        Header::V2(h) if m.header.image_type() == ImageType::PIB => Some((m, h)),
        _ => None,
    })?;
    let extent = (2 * V2_HEADER_LEN + first.image.len() + module.image.len()).min(file.len());
    let mut offset = h.image_address;
    Some(
        file[..extent]
            .chunks(MAX_PART)
            .map(|chunk| {
                let part = ReqRepr {
                    client_session: cookie,
                    server_session: 0,
                    flags: FLAG_ABSOLUTE,
                    mem_types: [0; 8],
                    total_length: h.image_length,
                    part_offset: offset,
                    start_address: h.entry_point,
                    checksum: h.image_checksum,
                    image: chunk.to_vec(),
                };
                offset = offset.wrapping_add(chunk.len() as u32);
                part
            })
            .collect(),
    )
}

/// The first module of this type in a version 2 chain file (what `plcboot` loads: the memory
/// controller applet and the firmware of the firmware file).
pub fn find_module(file: &[u8], kind: ImageType) -> Option<Module> {
    Chain::parse(file)
        .ok()?
        .modules
        .into_iter()
        .find(|m| matches!(m.header, Header::V2(_)) && m.header.image_type() == kind)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nvm::{ImageType, module_v1, module_v2};

    #[test]
    fn a_module_goes_in_1400_byte_parts_and_starts_with_the_last() {
        let mut module = module_v2(
            ImageType::SOFTLOADER,
            (0..3000u32).map(|i| i as u8).collect(),
        );
        if let Header::V2(h) = &mut module.header {
            h.image_address = 0x0100_0000;
            h.entry_point = 0x0100_0040;
        }
        let parts = applet_parts(&module, 7).unwrap_or_default();
        let lens: Vec<usize> = parts.iter().map(|p| p.image.len()).collect();
        assert_eq!(lens, [1400, 1400, 200]);
        let offsets: Vec<u32> = parts.iter().map(|p| p.part_offset).collect();
        assert_eq!(offsets, [0x0100_0000, 0x0100_0578, 0x0100_0AF0]);
        let flags: Vec<u32> = parts.iter().map(|p| p.flags).collect();
        assert_eq!(
            flags,
            [FLAG_ABSOLUTE, FLAG_ABSOLUTE, FLAG_ABSOLUTE | FLAG_EXECUTE]
        );
        assert!(
            parts
                .iter()
                .all(|p| p.total_length == 3000 && p.client_session == 7)
        );
        assert_eq!(
            parts
                .iter()
                .flat_map(|p| p.image.clone())
                .collect::<Vec<_>>(),
            module.image
        );
        // An unaligned entry point is data, not code: nothing starts.
        if let Header::V2(h) = &mut module.header {
            h.entry_point = 2;
        }
        let parts = applet_parts(&module, 7).unwrap_or_default();
        assert!(parts.iter().all(|p| p.flags & FLAG_EXECUTE == 0));
        assert!(applet_parts(&module_v1(4, vec![0; 8]), 7).is_none());
    }

    #[test]
    fn a_pib_file_goes_whole_to_the_pib_address_and_never_starts() {
        let mac = homeplug::MacAddr([2, 0, 0, 0, 0, 9]);
        let file = crate::synth::pib_file_with_manifest(4, 5000, mac).unwrap_or_default();
        let parts = pib_parts(&file, 3).unwrap_or_default();
        let joined: Vec<u8> = parts.iter().flat_map(|p| p.image.clone()).collect();
        assert_eq!(joined, file);
        assert!(
            parts
                .iter()
                .all(|p| p.flags == FLAG_ABSOLUTE && p.mem_types[0] == 0)
        );
        let pib = find_module(&file, ImageType::PIB).map(|m| m.image.len() as u32);
        assert_eq!(parts.first().map(|p| p.total_length), pib);
        // One module alone: the file, not past it.
        let lone = crate::synth::pib_file(4, 5000, mac).unwrap_or_default();
        let parts = pib_parts(&lone, 3).unwrap_or_default();
        assert_eq!(
            parts.iter().map(|p| p.image.len()).sum::<usize>(),
            lone.len()
        );
        assert!(pib_parts(&[0; 10], 3).is_none());
    }
}
