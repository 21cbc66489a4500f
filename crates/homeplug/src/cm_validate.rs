//! CM_VALIDATE.REQ (0x6078) and CM_VALIDATE.CNF (0x6079): optional validation of a match by
//! toggling the control pilot (ISO 15118-3 Annex A, HomePlug Green PHY 1.1 §11.5.42-43). EVSEs
//! may decline it, which is what single-connector chargers do.

use crate::view::view;

/// Field ranges within the MME payload.
pub mod field {
    use core::ops::Range;

    /// SignalType (0x00: EV toggles S2 on the control pilot).
    pub const SIGNAL_TYPE: Range<usize> = 0..1;
    /// REQ: VRVarField.Timer; CNF: VCVarField.ToggleNum.
    pub const TIMER_OR_TOGGLE_NUM: Range<usize> = 1..2;
    /// VRVarField.Result / VCVarField.Result.
    pub const RESULT: Range<usize> = 2..3;
}

/// SignalType 0x00: the EV toggles S2 on the control pilot.
pub const SIGNAL_TYPE_PEV_S2_TOGGLES: u8 = 0x00;

/// Result values of CM_VALIDATE.REQ/CNF.
pub mod result {
    /// 0x00: not ready.
    pub const NOT_READY: u8 = 0x00;
    /// 0x01: ready.
    pub const READY: u8 = 0x01;
    /// 0x02: success.
    pub const SUCCESS: u8 = 0x02;
    /// 0x03: failure.
    pub const FAILURE: u8 = 0x03;
    /// 0x04: not required.
    pub const NOT_REQUIRED: u8 = 0x04;
}

view! {
    /// A view of a CM_VALIDATE.REQ payload.
    pub struct Req, min_len = field::RESULT.end;
    /// SignalType.
    signal_type / set_signal_type: u8 = field::SIGNAL_TYPE;
    /// Timer: toggle window, 0x00 = 100 ms, 0x01 = 200 ms, ...
    timer / set_timer: u8 = field::TIMER_OR_TOGGLE_NUM;
    /// Result.
    result / set_result: u8 = field::RESULT;
}

view! {
    /// A view of a CM_VALIDATE.CNF payload.
    pub struct Cnf, min_len = field::RESULT.end;
    /// SignalType.
    signal_type / set_signal_type: u8 = field::SIGNAL_TYPE;
    /// ToggleNum: control-pilot edges the EVSE counted.
    toggle_num / set_toggle_num: u8 = field::TIMER_OR_TOGGLE_NUM;
    /// Result.
    result / set_result: u8 = field::RESULT;
}

/// CM_VALIDATE.REQ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReqRepr {
    /// SignalType.
    pub signal_type: u8,
    /// Timer.
    pub timer: u8,
    /// Result.
    pub result: u8,
}

impl ReqRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Req<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            signal_type: p.signal_type(),
            timer: p.timer(),
            result: p.result(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::RESULT.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Req<T>) {
        p.set_signal_type(self.signal_type);
        p.set_timer(self.timer);
        p.set_result(self.result);
    }
}

/// CM_VALIDATE.CNF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CnfRepr {
    /// SignalType.
    pub signal_type: u8,
    /// ToggleNum.
    pub toggle_num: u8,
    /// Result.
    pub result: u8,
}

impl CnfRepr {
    /// Reads a checked view.
    pub fn parse<T: AsRef<[u8]>>(p: &Cnf<T>) -> crate::Result<Self> {
        p.check_len()?;
        Ok(Self {
            signal_type: p.signal_type(),
            toggle_num: p.toggle_num(),
            result: p.result(),
        })
    }

    /// Payload bytes [`Self::emit`] writes.
    pub const fn buffer_len(&self) -> usize {
        field::RESULT.end
    }

    /// Writes into a view of at least [`Self::buffer_len`] bytes.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(&self, p: &mut Cnf<T>) {
        p.set_signal_type(self.signal_type);
        p.set_toggle_num(self.toggle_num);
        p.set_result(self.result);
    }
}
