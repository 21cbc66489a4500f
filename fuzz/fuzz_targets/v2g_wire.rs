//! V2GTP and SDP parsing of arbitrary bytes: the stream decoder never panics, never buffers
//! beyond the frame limit, returns every frame it was given whatever the chunking, and SDP
//! messages that parse re-emit to the same bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;
use v2g::sdp::{SdpServer, SdpServerConfig};
use v2g::wire::{Decoder, Frame, Packet, SdpRequest, SdpResponse};

fuzz_target!(|data: &[u8]| {
    // The first byte chooses the chunk size; the rest is the stream.
    let Some((&chunk, stream)) = data.split_first() else {
        return;
    };
    let chunk = usize::from(chunk).max(1);
    let max = 4096;
    let mut decoder = Decoder::new(max);
    let mut frames = Vec::new();
    let mut failed = false;
    for piece in stream.chunks(chunk) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => {
                    assert!(frame.payload.len() <= max as usize);
                    frames.push(frame);
                }
                Ok(None) => break,
                Err(_) => {
                    failed = true;
                    break;
                }
            }
        }
        if failed {
            break;
        }
        assert!(decoder.buffered() <= 8 + max as usize + chunk);
    }
    // Re-emitting the frames gives back the bytes they came from.
    let again: Vec<u8> = frames.iter().flat_map(Frame::to_bytes).collect();
    assert_eq!(&stream[..again.len()], &again[..]);
    if let Ok(p) = Packet::new_checked(stream) {
        assert_eq!(p.payload().len(), p.header().payload_len as usize);
    }
    if let Ok(req) = SdpRequest::parse(stream) {
        assert_eq!(&req.emit()[..], stream);
        let mut server = SdpServer::new(SdpServerConfig {
            addr: std::net::Ipv6Addr::LOCALHOST,
            port: 50000,
            tls_port: None,
        });
        if let Ok(res) = server.handle_request(stream) {
            assert_eq!(SdpResponse::parse(&res.emit()), Ok(res));
        }
    }
    if let Ok(res) = SdpResponse::parse(stream) {
        assert_eq!(&res.emit()[..], stream);
    }
});
