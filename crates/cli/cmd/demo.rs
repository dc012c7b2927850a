//! `duo demo`: two partners in temporary homes on this machine, paired by code over
//! loopback (no multicast, no internet), writing offline on both sides and syncing.
//! Nothing is left outside the temporary directory.

use crate::ctx::now;
use crate::error::Result;
use crate::exit;
use crate::output::Printer;
use duo_journal::{Kind, NewEntry};
use duo_sync::code::Code;
use duo_sync::device::{NetOptions, Online};
use duo_sync::relay::Relays;
use duo_sync::{Home, Opened, invite};

fn write(o: &Opened, kind: Kind, body: &str, at: i64) -> Result<()> {
    let e = NewEntry {
        id: duo_journal::new_id(),
        kind,
        author: o.config.person_id.clone(),
        device: o.config.device_id.clone(),
        created_at: at,
        edited_at: at,
        body: body.into(),
        tags: vec![],
        status: None,
        no_replies: false,
        prompt: None,
    };
    o.space.add(&[e], &o.sealer())?;
    Ok(())
}

fn column(o: &Opened) -> Result<Vec<String>> {
    let view = o.space.read()?.view;
    let mut entries: Vec<_> = view.entries.values().collect();
    entries.sort_by_key(|e| (e.created_at, e.id.clone()));
    Ok(entries
        .iter()
        .map(|e| {
            let text = format!("{}: {}", view.person_name(&e.author), e.body);
            let mut cut: String = text.chars().take(44).collect();
            if cut.chars().count() < text.chars().count() {
                cut.push('…');
            }
            cut
        })
        .collect())
}

fn side_by_side(p: &Printer, title: &str, a: &Opened, b: &Opened) -> Result<()> {
    let (left, right) = (column(a)?, column(b)?);
    let mut out = format!(
        "\n{title}\n{:<46} | {}\n{}\n",
        "on Alice's laptop",
        "on Bob's phone",
        "-".repeat(94)
    );
    for i in 0..left.len().max(right.len()) {
        out.push_str(&format!(
            "{:<46} | {}\n",
            left.get(i).map(String::as_str).unwrap_or(""),
            right.get(i).map(String::as_str).unwrap_or("")
        ));
    }
    p.data(&out);
    Ok(())
}

pub fn run(p: &Printer) -> Result<i32> {
    let dir = tempfile::Builder::new().prefix("duo-demo-").tempdir()?;
    let t = now()?;
    let alice = Home::new(dir.path().join("alice")).init("Alice", "laptop", t)?;
    let mut bob = Home::new(dir.path().join("bob")).init("Bob", "phone", t)?;
    p.data(&format!(
        "Two partners, each with their own device, in {} (removed at the end).",
        dir.path().display()
    ));

    write(
        &alice,
        Kind::Appreciation,
        "Thank you for making coffee this morning",
        t,
    )?;
    write(
        &alice,
        Kind::Boundary,
        "I need an hour alone after work before we plan",
        t + 1,
    )?;
    write(&bob, Kind::Reflection, "I felt close to you on our walk today", t + 2)?;
    side_by_side(p, "1. Written offline, before pairing:", &alice, &bob)?;

    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async {
        // Loopback, no relay: the demo never leaves this machine.
        let loopback = NetOptions {
            bind: Some("127.0.0.1:0".parse().expect("address")),
            relays: Relays::disabled(),
        };
        let a = Online::bind(&alice, &loopback, true).await?;
        let b = Online::bind(&bob, &loopback, false).await?;
        let code = Code::generate();
        let addr = a.endpoint_addr();
        p.data(&format!(
            "\n2. Alice runs `duo pair` and reads out the code {}; Bob types it into `duo pair join`.",
            code.reveal()
        ));
        let (ra, rb) = tokio::join!(
            invite::invite(&a.endpoint, &alice, &code, false, |_, _| true),
            invite::join(&b.endpoint, &mut bob, addr.clone(), &code, |_, _| true)
        );
        let (ra, _) = (ra?, rb?);
        p.data(&format!(
            "   Both screens show the same words: {}. Both confirm.",
            ra.words
        ));
        a.refresh_members(&alice)?;
        b.refresh_members(&bob)?;
        let (router, mut served) = a.serve_sync(&alice);
        let states = duo_sync::device::sync_states(&bob)?;
        let options = duo_sync::net::SyncOptions {
            states: Some(&states),
            progress: None,
            replica: None,
        };
        duo_sync::net::sync_with(&b.endpoint, &bob.space, addr.clone(), options).await?;
        served.recv().await; // Alice has stored what Bob sent
        side_by_side(
            p,
            "3. After the first sync, both devices hold the whole space:",
            &alice,
            &bob,
        )?;

        write(&alice, Kind::Reflection, "I'd like us to plan Sunday together", t + 3)?;
        write(&bob, Kind::Appreciation, "Thank you for dinner", t + 4)?;
        let r = duo_sync::net::sync_with(&b.endpoint, &bob.space, addr, options).await?;
        served.recv().await;
        p.data(&format!(
            "\n4. Both write offline again, then sync: {} bytes sent, {} received, in {} round(s).",
            r.outcome.bytes_sent, r.outcome.bytes_received, r.outcome.rounds
        ));
        side_by_side(p, "   Merged on both sides, nothing lost:", &alice, &bob)?;
        b.endpoint.close().await;
        let _ = router.shutdown().await;
        Ok::<(), crate::error::CliError>(())
    })?;
    p.data("\nThat's duo. Start your own with `duo init --name <your name>`.");
    Ok(exit::OK)
}
