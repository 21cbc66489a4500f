//! The SocketCAN round trip that CI runs inside a throwaway VM with a real kernel
//! (`tests/vcan_vm.rs` builds this statically and boots it with shared/tools/can-vm.sh):
//! creates `vcan0`, then, through the crate's SocketCAN backend, a BMS node's 0x1F4/0x1F5 are
//! decoded by the `CanBms` backend, and the BYD emulation answers an inverter's identification
//! request and sends its 2 s frame. Prints `CAN-VM OK` and exits 0, or says what failed and
//! exits 1.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use devices::Bms;
use devices_can::emulation::SourceInput;
use devices_can::{
    BmsProtocol, BydHvs, CanBms, CanBus, CanLink, EmulationDriver, Rating, SocketCanBus, Source,
    byd, openinverter,
};
use units::{Amps, Clock, Percent, SystemClock, Volts};

const IFACE: &str = "vcan0";

fn main() -> ExitCode {
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            println!("CAN-VM FAIL: runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(async { tokio::time::timeout(Duration::from_secs(20), round_trip()).await }) {
        Ok(Ok(())) => {
            println!("CAN-VM OK");
            ExitCode::SUCCESS
        }
        Ok(Err(e)) => {
            println!("CAN-VM FAIL: {e}");
            ExitCode::FAILURE
        }
        Err(_) => {
            println!("CAN-VM FAIL: no result within 20 s");
            ExitCode::FAILURE
        }
    }
}

async fn round_trip() -> Result<(), String> {
    let iface = socketcan::CanInterface::create_vcan(IFACE, None)
        .map_err(|e| format!("create {IFACE}: {e}"))?;
    iface
        .bring_up()
        .map_err(|e| format!("bring up {IFACE}: {e}"))?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock::new());

    // The BMS backend reads what a BMS node sends.
    let (bms, driver) = CanBms::new(
        "bms",
        BmsProtocol::OpenInverter {
            pdo_base: openinverter::PDO_BASE,
        },
        Duration::from_secs(2),
        CanLink::SocketCan(IFACE.into()),
        Arc::clone(&clock),
    );
    tokio::spawn(driver.run());
    let mut node = SocketCanBus::open(IFACE).map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let limits = openinverter::Repr::Limits(openinverter::Limits {
        ccl: Amps(12.5),
        dcl: Amps(100.0),
        soc: Percent(55.5),
        current: Amps(-20.3),
        voltage: Volts(360.0),
        counter: 1,
    });
    let cells = openinverter::Repr::Cells(openinverter::Cells {
        min: Volts(3.312),
        max: Volts(3.35),
        counter: 1,
    });
    for r in [limits, cells] {
        node.send(&r.emit(openinverter::PDO_BASE))
            .await
            .map_err(|e| e.to_string())?;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let s = bms.state().ok_or("the BMS backend decoded nothing")?.value;
    let want = (Amps(12.5), Amps(100.0), Percent(55.5), Volts(360.0));
    if (s.max_charge_a, s.max_discharge_a, s.soc_pct, s.voltage_v) != want
        || s.cell_max_v != Some(Volts(3.35))
    {
        return Err(format!("decoded {s:?}"));
    }
    println!("bms: decoded {s:?}");

    // The BYD emulation answers an inverter.
    let rating = Rating {
        max_voltage: Volts(400.0),
        min_voltage: Volts(300.0),
        max_current: Amps(20.0),
        capacity_wh: 25_500,
        source_timeout: Duration::from_secs(5),
    };
    let (_input_tx, input) = tokio::sync::watch::channel(SourceInput {
        bms: bms.state(),
        charge_point: None,
    });
    let (emulation, _status) = EmulationDriver::new(
        "byd",
        BydHvs::new(rating),
        Source::Bms,
        input,
        CanLink::SocketCan(IFACE.into()),
        Arc::clone(&clock),
    );
    tokio::spawn(emulation.run());
    let mut inverter = SocketCanBus::open(IFACE).map_err(|e| e.to_string())?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    inverter
        .send(&byd::Repr::IdentifyRequest.emit())
        .await
        .map_err(|e| e.to_string())?;
    let (mut vendor, mut limits) = (false, None);
    while !(vendor && limits.is_some()) {
        let f = inverter.recv().await.map_err(|e| e.to_string())?;
        match byd::Repr::parse(&f) {
            Ok(byd::Repr::Vendor(v)) => vendor = &v == b"BYD",
            Ok(byd::Repr::Limits(l)) => limits = Some(l),
            // The BMS node's frames and the rest of the identification.
            _ => {}
        }
    }
    let l = limits.ok_or("no 0x110")?;
    if l.max_charge != Amps(12.5) || l.max_discharge != Amps(20.0) {
        return Err(format!("0x110 carries {l:?}"));
    }
    println!("byd: identification and {l:?} received");
    Ok(())
}
