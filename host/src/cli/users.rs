//! `jules users erase --phone`: an operator erases a person, as their own request
//! would.

use std::process::ExitCode;

use crate::domain::PhoneNumber;
use crate::memory::Memory;
use crate::pipeline::ERASED_NOTICE;

pub fn erase(phone: &str) -> ExitCode {
    let phone = match PhoneNumber::parse(phone) {
        Ok(p) => p,
        Err(e) => {
            eprintln!("error: --phone: {e}");
            return ExitCode::from(2);
        }
    };
    super::keys::with_store(async move |config, store| {
        let Some(person) = store.user_by_phone(phone.as_str()).await? else {
            eprintln!("nobody has this number: nothing was erased");
            return Ok(ExitCode::FAILURE);
        };
        let stripe = config
            .services
            .stripe
            .clone()
            .map(crate::billing::Stripe::new);
        let cancelled =
            crate::billing::cancel_before_erasure(stripe.as_ref(), store.db(), person.id).await?;
        if !cancelled {
            eprintln!(
                "warning: their live subscription could not be cancelled: cancel it in Stripe; they are told to text CANCEL PLAN"
            );
        }
        let notice = if cancelled {
            ERASED_NOTICE.to_string()
        } else {
            format!("{ERASED_NOTICE}{}", crate::billing::texts::NOT_CANCELLED)
        };
        if !store
            .erase_person(person.id, "on an operator's request", Some(&notice))
            .await?
        {
            eprintln!("the person was removed meanwhile: nothing was erased");
            return Ok(ExitCode::FAILURE);
        }
        println!(
            "erased person {}: texts, name, email, preferences and age-check links; a confirmation is queued for them",
            person.id
        );
        let ttl = config.memory.ttl.as_secs();
        let Some(url) = config.redis_url.as_deref() else {
            eprintln!(
                "note: without REDIS_URL each running host keeps recent turns in its own memory until they expire ({ttl} s) or it restarts"
            );
            return Ok(ExitCode::SUCCESS);
        };
        let forgotten = match Memory::new(Some(url), store, config.memory.clone()) {
            Ok(memory) => memory.forget(person.id).await.map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        match forgotten {
            Ok(()) => println!("their conversation memory in Redis is dropped"),
            Err(e) => eprintln!(
                "warning: Redis could not drop their memory ({e}): it expires {ttl} s after its last write (REDIS_SESSION_TTL)"
            ),
        }
        Ok(ExitCode::SUCCESS)
    })
}
