//! `gridlet plan --input FILE [--json]`: plans a scenario (issue 12's file format, see
//! `planner::Scenario`) and prints the plan as a table and its cost, or as JSON.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use planner::{Plan, Scenario};

#[derive(Debug, Args)]
pub(crate) struct PlanArgs {
    /// The scenario: JSON with step_min, price_import, price_export, pv_w, load_w, grid and
    /// optionally battery and car (powers in W, energies in Wh, prices per kWh).
    #[arg(long)]
    input: PathBuf,
    /// Print {"feasible", "cost", "steps": [...]} instead of the table.
    #[arg(long)]
    json: bool,
}

impl PlanArgs {
    pub(crate) fn run(self) -> anyhow::Result<ExitCode> {
        let scenario = match load(&self.input) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("{e}");
                return Ok(ExitCode::from(super::EXIT_CONFIG));
            }
        };
        let plan = planner::plan(&scenario)?;
        if self.json {
            let out = serde_json::json!({
                "feasible": plan.feasible,
                "cost": plan.cost,
                "steps": plan.steps,
            });
            println!("{out}");
            // stdout stays the JSON; the reasons go to stderr.
            for s in &plan.shortfalls {
                eprintln!("infeasible: {s}");
            }
        } else {
            print!("{}", table(&scenario, &plan));
        }
        Ok(ExitCode::SUCCESS)
    }
}

/// Reads and checks the scenario; the error names the file, the JSON path and line, or the
/// field whose value is wrong.
pub(crate) fn load(path: &Path) -> Result<Scenario, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("{}: cannot read: {e}", path.display()))?;
    parse(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Parses and validates a scenario.
pub(crate) fn parse(text: &str) -> Result<Scenario, String> {
    let de = &mut serde_json::Deserializer::from_str(text);
    let scenario: Scenario = serde_path_to_error::deserialize(de).map_err(|e| {
        let inner = e.inner();
        let at = e.path().to_string();
        let line = inner.line();
        let column = inner.column();
        if at == "." {
            format!("line {line} column {column}: {inner}")
        } else {
            format!("{at} (line {line} column {column}): {inner}")
        }
    })?;
    scenario.validate().map_err(|e| e.to_string())?;
    Ok(scenario)
}

fn table(s: &Scenario, plan: &Plan) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:>5} {:>5} {:>7} {:>7} {:>6} {:>6} {:>6} {:>6} {:>6} {:>6} {:>7} {:>6} {:>6} {:>7}",
        "step",
        "time",
        "p_imp",
        "p_exp",
        "pv",
        "load",
        "import",
        "export",
        "bat+",
        "bat-",
        "bat_soc",
        "car+",
        "car-",
        "car_soc"
    );
    for (t, p) in plan.steps.iter().enumerate() {
        let min = (t as f64 * s.step_min).round() as u64;
        let _ = writeln!(
            out,
            "{t:>5} {:>2}:{:02} {:>7.4} {:>7.4} {:>6.0} {:>6.0} {:>6.0} {:>6.0} {:>6.0} {:>6.0} \
             {:>7.0} {:>6.0} {:>6.0} {:>7.0}",
            min / 60 % 24,
            min % 60,
            s.price_import[t],
            s.price_export[t],
            s.pv_w[t],
            s.load_w[t],
            p.import_w,
            p.export_w,
            p.battery_charge_w,
            p.battery_discharge_w,
            p.battery_soc_wh,
            p.car_charge_w,
            p.car_discharge_w,
            p.car_soc_wh,
        );
    }
    let _ = writeln!(
        out,
        "powers in W (average over the step), SoC in Wh at the step's end; times from the start"
    );
    let _ = writeln!(out, "cost: {:.4}", plan.cost);
    if plan.feasible {
        let _ = writeln!(out, "feasible: every departure target and limit is met");
    } else {
        let _ = writeln!(out, "INFEASIBLE: the plan above comes closest");
        for sf in &plan.shortfalls {
            let _ = writeln!(out, "  {sf}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn syntax_error_names_line_and_column() {
        let e = parse("{\"step_min\": 15,\n \"price_import\": [0.1,]}").unwrap_err();
        assert!(e.contains("line 2"), "{e}");
    }

    #[test]
    fn wrong_type_names_the_path() {
        let text = r#"{"step_min": 15, "price_import": [0.1], "price_export": [0.0],
            "pv_w": [0], "load_w": [0], "grid": {"import_max_w": 1, "export_max_w": 1},
            "battery": {"capacity_wh": "big"}}"#;
        let e = parse(text).unwrap_err();
        assert!(e.starts_with("battery.capacity_wh (line 3"), "{e}");
    }

    #[test]
    fn bad_value_names_the_field() {
        let text = r#"{"step_min": 15, "price_import": [0.1, 0.2], "price_export": [0.0],
            "pv_w": [0, 0], "load_w": [0, 0], "grid": {"import_max_w": 1, "export_max_w": 1}}"#;
        let e = parse(text).unwrap_err();
        assert_eq!(
            e,
            "price_export has 1 entries, price_import has 2: one entry per step"
        );
    }
}
