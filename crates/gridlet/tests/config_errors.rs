//! `gridlet config check` on a wrong setting of each device type: the error is at the setting's
//! FILE:LINE:COLUMN and names its key (issue 10, done-when 5).

use gridlet::config::{EXAMPLE_FOCCCI_CAPE, device_types, parse};

/// The roles that need another table to be valid at all.
const CONVERTER: &str = "[converter]\ntype = \"sim\"\n";

/// `(file, where and what the error must say)`: the position is 1-based line:column of the
/// offending value (wrong type) or key (unknown key, out-of-range value); a missing key is
/// reported at its table.
const CASES: &[(&str, &str)] = &[
    // grid_meter
    (
        "[grid_meter]\ntype = \"sim\"\npoll = \"1s\"\n",
        "3:1: grid_meter.poll: unknown field `poll`",
    ),
    (
        "[grid_meter]\ntype = \"sdm630\"\nmodbus = { tcp = \"127.0.0.1:5020\" }\npoll = 7\n",
        "4:8: grid_meter.poll: invalid type: integer `7`, expected a duration string like \"1s\"",
    ),
    (
        "[grid_meter]\ntype = \"sdm72\"\nmodbus = { tcp = \"127.0.0.1:5020\" }\npoll = \"1ms\"\n",
        "4:1: grid_meter.poll: must be between 50ms and 60s",
    ),
    (
        "[grid_meter]\ntype = \"dtsu666\"\n",
        "1:1: grid_meter: missing field `modbus`",
    ),
    (
        "[grid_meter]\ntype = \"sunspec\"\nmodbus = { tcp = \"10.0.0.2:502\", unit = \"200\" }\n",
        "3:41: grid_meter.modbus.unit: invalid type: string \"200\"",
    ),
    (
        "[grid_meter]\ntype = \"huawei-sun2000\"\nmodbus = { tcp = \"a:1\" }\nfeed_in_limit_w = 0\n",
        "4:1: grid_meter.feed_in_limit_w:",
    ),
    (
        "[grid_meter]\ntype = \"sma-em\"\ngroup = \"10.0.0.1\"\n",
        "3:1: grid_meter.group: 10.0.0.1 is not a multicast",
    ),
    (
        "[grid_meter]\ntype = \"sml\"\nbaud = \"fast\"\n",
        "3:8: grid_meter.baud: invalid type: string \"fast\"",
    ),
    (
        "[grid_meter]\ntype = \"mqtt\"\nbroker = \"mqtt.local\"\n",
        "3:1: grid_meter.broker:",
    ),
    // meter_emulation
    (
        "[grid_meter]\ntype = \"sim\"\n[meter_emulation.huawei]\ntype = \"dtsu666-h\"\nmodbus = { tcp_listen = \"127.0.0.1:5021\", unit = 300 }\n",
        "5:50: meter_emulation.huawei.modbus.unit: invalid value: integer `300`",
    ),
    (
        "[grid_meter]\ntype = \"sim\"\n[converter]\ntype = \"sungrow-sh\"\nmodbus = { tcp = \"a:1\" }\nmax_charge_w = 1\nmax_discharge_w = 1\n[meter_emulation.huawei]\ntype = \"dtsu666-h\"\nsource = \"grid_meter\"\nmodbus = { tcp_listen = \"127.0.0.1:5021\" }\nsubtract = \"converter\"\n",
        "12:1: meter_emulation.huawei.subtract: a [converter] on Modbus",
    ),
    // pv
    (
        "[pv.roof]\ntype = \"sim\"\nkwp = -1\n",
        "3:1: pv.roof.kwp: must be ≥ 0",
    ),
    (
        "[pv.roof]\ntype = \"sunspec\"\nmodbus = { tcp = \"10.0.0.2:502\" }\n",
        "1:1: pv.roof.rated_w: a PV inverter needs",
    ),
    (
        "[pv.roof]\ntype = \"huawei-sun2000\"\nmodbus = { tcp = \"10.0.0.2:502\" }\nrated_w = \"10kW\"\n",
        "4:11: pv.roof.rated_w: invalid type: string \"10kW\"",
    ),
    // battery
    (
        "[battery]\ntype = \"sim\"\ncapacity_wh = 0\n",
        "3:1: battery.capacity_wh: must be > 0",
    ),
    (
        "[battery]\ntype = \"openinverter-can\"\npdo_base = 4000\n",
        "3:1: battery.pdo_base:",
    ),
    (
        "[battery]\ntype = \"pylontech-can\"\ntimeout = 2\n",
        "3:11: battery.timeout: invalid type: integer `2`",
    ),
    // battery_emulation
    (
        "[battery]\ntype = \"sim\"\n[battery_emulation.inv]\ntype = \"byd-hvs\"\nmin_voltage_v = 500\n",
        "5:1: battery_emulation.inv.min_voltage_v: must be ≥ 0 and below max_voltage_v",
    ),
    (
        "[battery]\ntype = \"sim\"\n[battery_emulation.inv]\ntype = \"pylontech\"\nbaud = 500000\n",
        "5:1: battery_emulation.inv.baud: unknown field `baud`",
    ),
    // converter
    (
        "[converter]\ntype = \"sim\"\nefficiency = 1.5\n",
        "3:1: converter.efficiency: must be in (0, 1]",
    ),
    (
        "[converter]\ntype = \"sunspec-storage\"\nmodbus = { tcp = \"a:1\" }\nmax_charge_w = 1\n",
        "1:1: converter.max_discharge_w: a battery converter needs its rating",
    ),
    (
        "[converter]\ntype = \"huawei-luna\"\nmodbus = { tcp = \"x:y\" }\nmax_charge_w = 1\nmax_discharge_w = 1\n",
        "3:12: converter.modbus.tcp: \"x:y\" is not host:port",
    ),
    (
        "[converter]\ntype = \"sungrow-sh\"\nmodbus = { tcp = \"a:1\" }\nmax_charge_w = 1\nmax_discharge_w = 1\npoll = \"1h\"\n",
        "6:1: converter.poll: must be between 100ms and 60s",
    ),
    // charge_point
    (
        "[charge_point]\ntype = \"sim\"\ncapacity_wh = -5\n",
        "3:1: charge_point.capacity_wh: must be > 0",
    ),
    (
        "[charge_point]\ntype = \"ccs\"\npilot = { type = \"sim\" }\nchangeover = { type = \"sim\" }\nprecharge = { type = \"sim\" }\nisolation_monitor = { type = \"none\", colour = 1 }\n",
        "6:38: charge_point.isolation_monitor.colour: unknown field `colour`",
    ),
    (
        "[charge_point]\ntype = \"ccs\"\npilot = { type = \"sysfs\", pwm = 1 }\n",
        "3:33: charge_point.pilot.pwm: invalid type: integer `1`",
    ),
    (
        "[charge_point]\ntype = \"ccs\"\nchangeover = { type = \"sim\" }\nprecharge = { type = \"sim\" }\nisolation_monitor = { type = \"none\" }\n\n[charge_point.pilot]\ntype = \"sysfs\"\nadc = { channel = 0, gain = 16.6667, offset_v = -15.0 }\nsamples = 0\n",
        "10:1: charge_point.pilot.samples: 0 is outside 1..=10000",
    ),
    (
        "[charge_point]\ntype = \"ccs\"\npilot = { type = \"sim\" }\nchangeover = { type = \"sim\" }\nprecharge = { type = \"sim\" }\nisolation_monitor = { type = \"sim\" }\ninlet = { type = \"sim\", precharge_tau = \"0s\" }\n",
        "7:25: charge_point.inlet.precharge_tau: must be longer than 0s",
    ),
    // relays, button
    (
        "[charge_point]\ntype = \"sim\"\n[changeover]\ntype = \"gpio\"\npin = \"P9_99\"\n",
        "3:2: changeover: \"P9_99\" is not a BeagleBone header GPIO pin",
    ),
    (
        "[relay.boiler]\ndevice = { type = \"sim\", load_w = \"2kW\" }\nwhen = []\n",
        "2:35: relay.boiler.device.load_w: invalid type: string \"2kW\"",
    ),
    (
        "[button]\ntype = \"gpio\"\nled = { pin = \"P9_99\" }\n",
        "3:1: button.led:",
    ),
    (
        "[button]\ntype = \"sim\"\nled = 1\n",
        "3:1: button.led: unknown field `led`",
    ),
];

#[test]
fn each_device_types_wrong_setting_is_reported_at_its_key() {
    let mut failed = Vec::new();
    for (src, want) in CASES {
        let src = if src.starts_with("[battery]") && !src.contains("[converter]") {
            format!("{src}{CONVERTER}")
        } else {
            (*src).to_owned()
        };
        let src = if src.contains("[charge_point]\ntype = \"ccs\"") {
            format!("{src}{CONVERTER}")
        } else {
            src
        };
        match parse("site.toml", &src) {
            Ok(_) => failed.push(format!("{src}\n  accepted; want site.toml:{want}")),
            Err(e) => {
                let e = e.to_string();
                if !e.starts_with(&format!("site.toml:{want}")) {
                    failed.push(format!("{src}\n  got  {e}\n  want site.toml:{want}"));
                }
            }
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// Every `type` of every device role has a wrong-setting case above.
#[test]
fn every_device_type_has_a_case() {
    for (role, types) in device_types() {
        for t in types {
            let tag = format!("type = \"{t}\"");
            assert!(
                CASES.iter().any(|(src, _)| src.contains(&tag)),
                "[{role}] type = \"{t}\" has no case"
            );
        }
    }
}

/// `gridlet config example` names every type of every device role (issue 10, done-when 5).
#[test]
fn the_example_documents_every_device_type() {
    let roles = device_types();
    assert!(roles.len() >= 10, "{roles:?}");
    for (role, types) in roles {
        assert!(!types.is_empty(), "[{role}]");
        for t in types {
            assert!(
                EXAMPLE_FOCCCI_CAPE.contains(&format!("\"{t}\"")),
                "[{role}] type = \"{t}\" is not in `gridlet config example`"
            );
        }
    }
}

/// One commented-out device table of the example: its table, its lines uncommented, and the
/// example's text since the previous one (where alternative types are named in prose).
struct Documented {
    table: String,
    body: String,
    context: String,
}

/// The commented-out device tables of `example`: a `# type = "..."` line (at any indent) and
/// the lines after it at the same indent that are keys or comments, with an inline table
/// continued on the lines after until its braces close.
fn documented_tables(example: &str) -> Vec<Documented> {
    let mut found = Vec::new();
    let mut table = String::new();
    let mut context = String::new();
    let lines: Vec<&str> = example.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        let header = line.trim_start_matches('#').trim();
        if header.starts_with('[') && header.ends_with(']') && !header.contains(' ') {
            table = header.trim_matches(['[', ']']).to_owned();
        }
        let Some(rest) = line.strip_prefix('#') else {
            context.push_str(line);
            context.push('\n');
            i += 1;
            continue;
        };
        let indent = rest.len() - rest.trim_start().len();
        if !rest.trim_start().starts_with("type = \"") {
            context.push_str(line);
            context.push('\n');
            i += 1;
            continue;
        }
        let mut body = String::new();
        let mut open = 0i32;
        while i < lines.len() {
            let Some(r) = lines[i].strip_prefix('#') else {
                break;
            };
            let content = r.get(indent..).unwrap_or("");
            if open == 0 && content.trim_start().starts_with('#') && !body.is_empty() {
                // A comment continued on its own line.
                context.push_str(lines[i]);
                context.push('\n');
                i += 1;
                continue;
            }
            if open > 0 {
                // An inline table continued: one TOML line.
                body.pop();
                body.push(' ');
                body.push_str(content.trim());
            } else if content.contains(" = \"...\"") {
                // A value to fill in, not a default (`export_kwh = "..."`).
            } else if content.starts_with(|c: char| c.is_ascii_lowercase())
                && content.contains(" = ")
            {
                body.push_str(content);
            } else {
                break;
            }
            let code = body.lines().last().unwrap_or("");
            let code = code.split(" #").next().unwrap_or("");
            open = code.matches('{').count() as i32 - code.matches('}').count() as i32;
            body.push('\n');
            context.push_str(lines[i]);
            context.push('\n');
            i += 1;
        }
        found.push(Documented {
            table: table.clone(),
            body,
            context: std::mem::take(&mut context),
        });
    }
    found
}

/// A documented table as a whole file: the tables it needs beside it, then itself.
fn as_file(table: &str, body: &str) -> String {
    let mut src = String::new();
    if table.starts_with("meter_emulation") {
        src.push_str("[grid_meter]\ntype = \"sim\"\n");
        src.push_str(CONVERTER);
    }
    if table.starts_with("battery_emulation") {
        src.push_str("[battery]\ntype = \"sim\"\n");
    }
    if table.starts_with("battery") {
        src.push_str(CONVERTER);
    }
    format!("{src}[{table}]\n{body}")
}

/// Every device type's table in `gridlet config example` parses and validates as written; a type
/// named only in prose ("or \"sdm72\"") is checked with the table it is named beside.
#[test]
fn every_documented_device_table_is_valid() {
    let docs = documented_tables(EXAMPLE_FOCCCI_CAPE);
    let mut failed = Vec::new();
    let mut checked: Vec<(String, String)> = Vec::new();
    let role_of = |table: &str| -> Option<(&'static str, &'static [&'static str])> {
        let role = match table.split_once('.') {
            Some((t, _)) if t != "charge_point" => format!("{t}.NAME"),
            _ => table.to_owned(),
        };
        device_types().into_iter().find(|(r, _)| *r == role)
    };
    for d in &docs {
        let Some((role, types)) = role_of(&d.table) else {
            continue;
        };
        let own = d
            .body
            .lines()
            .next()
            .and_then(|l| l.split('"').nth(1))
            .unwrap_or_default()
            .to_owned();
        // The type itself, then the types its text names as alternatives without a table of
        // their own.
        let mut variants = vec![own.clone()];
        for t in types {
            let has_own = docs.iter().any(|o| {
                o.body.starts_with(&format!("type = \"{t}\""))
                    && role_of(&o.table).is_some_and(|(r, _)| r == role)
            });
            if !has_own && *t != "sim" && d.context.contains(&format!("\"{t}\"")) && *t != own {
                variants.push((*t).to_owned());
            }
        }
        for t in variants {
            let mut body =
                d.body
                    .replacen(&format!("type = \"{own}\""), &format!("type = \"{t}\""), 1);
            if t != own {
                body = alternative_values(&body);
            }
            let src = as_file(&d.table, &body);
            if let Err(e) = parse("example.toml", &src) {
                failed.push(format!("{src}\n  {e}"));
            }
            checked.push((role.to_owned(), t));
        }
    }
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
    println!("documented tables checked: {checked:?}");
    // Every non-simulated type with settings of its own was found (the sim tables are the
    // example's own, parsed by the example's test).
    for (role, types) in device_types() {
        for t in types {
            if checked.iter().any(|(r, c)| r == role && c == t) {
                continue;
            }
            let inline = format!("{{ type = \"{t}\"");
            let uncommented = EXAMPLE_FOCCCI_CAPE.lines().any(|l| {
                !l.starts_with('#')
                    && (l.contains(&inline) || l.starts_with(&format!("type = \"{t}\"")))
            });
            assert!(
                *t == "sim" || *t == "none" || uncommented || inline_only(t),
                "[{role}] type = \"{t}\": no table of it in `gridlet config example`; checked: {checked:?}"
            );
        }
    }
}

/// Types documented only inline (`device = { type = "gpio", ... }`), checked by the example's
/// own parse when uncommented there.
fn inline_only(t: &str) -> bool {
    EXAMPLE_FOCCCI_CAPE.contains(&format!("{{ type = \"{t}\""))
}

/// An alternative type's table: a value whose comment ends in `[value]` (the alternative's
/// default, as the battery emulation documents Pylontech's) takes that value.
fn alternative_values(body: &str) -> String {
    let mut out = String::new();
    for line in body.lines() {
        let alt = line
            .split_once(" #")
            .and_then(|(_, c)| c.trim_end().strip_suffix(']'))
            .and_then(|c| c.rsplit_once('['))
            .map(|(_, v)| v);
        match (alt, line.split_once(" = ")) {
            (Some(v), Some((key, _))) => out.push_str(&format!("{key} = {v}")),
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    out
}
