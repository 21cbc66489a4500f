use std::io;

use homeplug::MacAddr;

/// Carries whole Ethernet frames with HomePlug MMEs to and from one interface.
#[allow(async_fn_in_trait)] // used generically, never as a trait object or across threads
pub trait Link {
    /// The host's MAC on this link (the source address of what it sends).
    fn mac(&self) -> MacAddr;

    /// The interface name, for messages.
    fn name(&self) -> &str;

    /// Sends one frame.
    async fn send(&self, frame: &[u8]) -> io::Result<()>;

    /// Receives one frame into `buf`, returning its length (cut to `buf.len()`).
    async fn recv(&self, buf: &mut [u8]) -> io::Result<usize>;
}
