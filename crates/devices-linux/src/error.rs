use devices::DeviceError;

/// Why a backend could not be opened. The variant says who is at fault: the configuration, or the
/// hardware and the kernel interface to it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum OpenError {
    /// The parameters cannot work whatever the hardware: fix the configuration.
    #[error("{device}: invalid configuration: {reason}")]
    Config {
        /// The configured device name.
        device: String,
        /// What is wrong with the parameters.
        reason: String,
    },
    /// The hardware or its kernel interface is missing, busy or refuses us.
    #[error(transparent)]
    Device(#[from] DeviceError),
}

impl OpenError {
    /// A configuration error of `device`.
    pub(crate) fn config(device: &str, reason: impl std::fmt::Display) -> Self {
        Self::Config {
            device: device.to_owned(),
            reason: reason.to_string(),
        }
    }
}

/// `DeviceError::Link` of `device`: our side of the hardware is unusable.
pub(crate) fn link(device: &str, reason: impl std::fmt::Display) -> DeviceError {
    DeviceError::Link {
        device: device.to_owned(),
        reason: reason.to_string(),
    }
}
