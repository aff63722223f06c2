//! Components the policy runtime must refuse, one per cargo feature (build one
//! feature at a time). Each is otherwise a plausible crisis detector.

#[cfg(feature = "future-wit")]
mod bindings {
    wit_bindgen::generate!({
        inline: r#"
            package jules:policy@0.2.0;
            interface types { record inbound { text: string } }
            world crisis-detector {
                use types.{inbound};
                export init: func(config: string) -> result<_, string>;
                export assess: func(message: inbound) -> u8;
            }
        "#,
        world: "crisis-detector",
    });
    pub struct Component;
    impl Guest for Component {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }
        fn assess(_message: jules::policy::types::Inbound) -> u8 {
            0
        }
    }
    export!(Component);
}

#[cfg(feature = "no-init")]
mod bindings {
    wit_bindgen::generate!({
        inline: r#"
            package jules:policy@0.1.0;
            interface types { record inbound { text: string, received-at: s64 } }
            world crisis-detector {
                use types.{inbound};
                export assess: func(message: inbound) -> u8;
            }
        "#,
        world: "crisis-detector",
    });
    pub struct Component;
    impl Guest for Component {
        fn assess(_message: jules::policy::types::Inbound) -> u8 {
            0
        }
    }
    export!(Component);
}

#[cfg(feature = "clock")]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.1.0",
        world: "crisis-detector",
    });
    use jules::policy::crisis::Severity;
    pub struct Component;
    impl Guest for Component {
        fn init(_config: String) -> Result<(), String> {
            Ok(())
        }
        fn assess(_m: Inbound, _u: UserContext, _r: Vec<Turn>) -> Assessment {
            let now = std::time::SystemTime::now();
            let severity = if std::hint::black_box(now) > std::time::UNIX_EPOCH {
                Severity::None
            } else {
                Severity::Low
            };
            Assessment {
                severity,
                categories: vec![],
                evidence: vec![],
                discounted: vec![],
            }
        }
    }
    export!(Component);
}
