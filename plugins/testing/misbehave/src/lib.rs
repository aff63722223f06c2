//! A crisis detector that misbehaves on request, so the runtime's containment can be
//! tested against real wasm. The config chooses how `init` behaves; the message text
//! chooses how `assess` behaves:
//!
//! - config containing `init-error` → init returns an error; `init-loop` → init never ends
//! - text `trap` → panics; `loop` → never returns; `bomb` → allocates without bound;
//!   `invalid` → returns an evidence span outside the text;
//!   `remember:<x>` → stores x in guest memory; `recall` → reports what is stored;
//!   anything else → a low-severity marker whose rule id carries the config's tag.

// Generated code: its shape follows the WIT, not our lint settings.
#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.1.0",
        world: "crisis-detector",
    });
}

use bindings::jules::policy::crisis::{Assessment, Category, Evidence, Severity};
use bindings::jules::policy::types::{Inbound, Turn, UserContext};

static mut TAG: String = String::new();
static mut MEMORY: String = String::new();

struct Component;

fn marker(rule_id: String, start: u32, end: u32) -> Assessment {
    Assessment {
        severity: Severity::Low,
        categories: vec![Category::Suicide],
        evidence: vec![Evidence {
            rule_id,
            category: Category::Suicide,
            severity: Severity::Low,
            start,
            end,
        }],
        discounted: vec![],
    }
}

#[allow(static_mut_refs)] // single-threaded guest; each call runs on a fresh instance
impl bindings::Guest for Component {
    fn init(config: String) -> Result<(), String> {
        if config.contains("init-error") {
            return Err("setting `init-error` asks init to refuse".into());
        }
        if config.contains("init-loop") {
            #[allow(clippy::empty_loop)]
            loop {}
        }
        unsafe { TAG = config.trim().to_string() };
        Ok(())
    }

    fn assess(message: Inbound, _user: UserContext, _recent: Vec<Turn>) -> Assessment {
        let text = message.text.as_str();
        match text {
            "trap" => panic!("asked to trap"),
            "loop" => {
                let mut n: u64 = 0;
                loop {
                    n = std::hint::black_box(n.wrapping_add(1));
                }
            }
            "bomb" => {
                let mut hoard: Vec<Vec<u8>> = Vec::new();
                loop {
                    hoard.push(vec![1u8; 1 << 20]);
                    std::hint::black_box(&hoard);
                }
            }
            "invalid" => marker("invalid.span".into(), 0, 10_000),
            "recall" => marker(format!("recall.{}", unsafe { MEMORY.as_str() }), 0, 0),
            _ => {
                if let Some(x) = text.strip_prefix("remember:") {
                    unsafe { MEMORY = x.to_string() };
                }
                marker(format!("marker.{}", unsafe { TAG.as_str() }), 0, 0)
            }
        }
    }
}

bindings::export!(Component with_types_in bindings);
