//! Forecasts for planning: PV power and house load over the next days.
//!
//! - PV from forecast.solar (its own power estimate per array) or open-meteo (global tilted
//!   irradiance and air temperature per array, turned into power by [`PanelArray`]), formats in
//!   `shared/docs/ems-research.md` §5. Request builders and parsers are sans-IO; fetching goes
//!   through `tariffs::fetch` (one HTTP client for every web source) in [`PvFetcher`].
//! - House load from our own history: [`LoadProfile`], per weekday and quarter hour of local
//!   time.
//! - Either replaced by a constant ([`PvForecast::Constant`], [`LoadForecast::Constant`]).

mod config;
pub mod forecast_solar;
mod load;
pub mod open_meteo;
mod panel;
mod pv;
mod series;

pub use config::{ForecastConfig, LoadConfig, PvConfig};
pub use load::{LoadForecast, LoadProfile};
pub use panel::PanelArray;
pub use pv::{PvFetcher, PvForecast, PvSource, SharedPv};
pub use series::{PowerSample, PowerSeries};
