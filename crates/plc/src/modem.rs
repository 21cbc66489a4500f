use std::time::Duration;

use homeplug::{MacAddr, Message, Repr, vs_sw_ver};
use tracing::debug;

use crate::{Error, Link};

/// A modem that answered VS_SW_VER.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModemInfo {
    /// The modem's own MAC (the source of its answer; not the host's).
    pub mac: MacAddr,
    /// MDEVICEID, the chip family.
    pub device_id: u8,
    /// The firmware version string.
    pub firmware: String,
}

/// Asks the local modem on `link` for its firmware version (VS_SW_VER.REQ to the QCA local
/// address), like `int6klist`; the first answer within `timeout` wins.
pub async fn query_firmware(link: &impl Link, timeout: Duration) -> Result<ModemInfo, Error> {
    let io = |op| {
        let iface = link.name().to_owned();
        move |source| Error::Io { iface, op, source }
    };
    let request = Repr::new(
        MacAddr::QCA_LOCAL,
        link.mac(),
        Message::SwVerReq(vs_sw_ver::ReqRepr::default()),
    );
    link.send(&request.to_bytes())
        .await
        .map_err(io("send VS_SW_VER.REQ"))?;
    let answer = async {
        let mut buf = [0u8; 1522];
        loop {
            let n = link.recv(&mut buf).await?;
            match Repr::parse_bytes(&buf[..n]) {
                Ok(Repr {
                    src,
                    dst,
                    message: Message::SwVerCnf(cnf),
                    ..
                }) if dst == link.mac() || dst.is_broadcast() => {
                    if cnf.status != 0 {
                        debug!("{src} answered VS_SW_VER with status {}", cnf.status);
                    }
                    return Ok(ModemInfo {
                        mac: src,
                        device_id: cnf.device_id,
                        firmware: cnf.version_string(),
                    });
                }
                _ => continue,
            }
        }
    };
    match tokio::time::timeout(timeout, answer).await {
        Ok(result) => result.map_err(io("receive")),
        Err(_) => Err(Error::NoModem {
            iface: link.name().to_owned(),
            timeout,
        }),
    }
}

/// Runs `flasher` over `link` on tokio's time until it reports [`flasher::Event::Done`] or
/// [`flasher::Event::Failed`]; every event goes to `on_event` as it happens (progress for the
/// user). Fails only if the link does; the module's own failures are events.
pub async fn run_flasher(
    link: &impl Link,
    flasher: &mut flasher::Flasher,
    clock: &crate::TokioClock,
    mut on_event: impl FnMut(&flasher::Event),
) -> Result<(), Error> {
    use std::ops::ControlFlow;

    crate::drive(link, clock, flasher, |_, event| {
        on_event(&event);
        if matches!(event, flasher::Event::Done | flasher::Event::Failed(_)) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })
    .await
    .map_err(|source| Error::Io {
        iface: link.name().to_owned(),
        op: "send or receive",
        source,
    })
}
