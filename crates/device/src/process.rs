//! What a command does to its own process before it goes online.
//!
//! A networked command (`duo pair`, `duo pair join`, `duo sync`, `duo sync --watch`)
//! handles bytes from another device, and holds the journal in plain text and the device's
//! keys in memory. If it ever crashed, a core file would write all of that to disk,
//! unencrypted, where duo never writes it. So it turns core dumps off first: a core file
//! limit of 0 (hard and soft, so nothing in the process can raise it again) and, on Linux,
//! not dumpable (which also keeps other processes of the same user from reading its memory
//! through `/proc` or attaching a debugger, root aside).

/// Turn off core dumps for this process, for good.
pub fn no_core_dumps() -> std::io::Result<()> {
    let zero = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: setrlimit with a valid pointer to an initialised struct.
    if unsafe { libc::setrlimit(libc::RLIMIT_CORE, &zero) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    #[cfg(target_os = "linux")]
    // SAFETY: prctl(PR_SET_DUMPABLE, 0) takes no pointers.
    if unsafe { libc::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// In a child process (this test binary again), so the test process stays dumpable.
    #[test]
    fn core_dumps_are_off_for_good() {
        if std::env::var_os("DUO_TEST_NO_CORE_DUMPS_CHILD").is_some() {
            super::no_core_dumps().unwrap();
            let mut limit = libc::rlimit {
                rlim_cur: 1,
                rlim_max: 1,
            };
            // SAFETY: getrlimit/setrlimit/prctl with valid pointers or none.
            unsafe {
                assert_eq!(libc::getrlimit(libc::RLIMIT_CORE, &mut limit), 0);
                assert_eq!((limit.rlim_cur, limit.rlim_max), (0, 0));
                #[cfg(target_os = "linux")]
                assert_eq!(libc::prctl(libc::PR_GET_DUMPABLE, 0, 0, 0, 0), 0);
                // Raising it again is refused (without CAP_SYS_RESOURCE, as duo runs).
                let raise = libc::rlimit {
                    rlim_cur: 1 << 20,
                    rlim_max: 1 << 20,
                };
                let raised = libc::setrlimit(libc::RLIMIT_CORE, &raise) == 0;
                let root = libc::geteuid() == 0;
                assert!(!raised || root, "the limit could be raised again");
            }
            return;
        }
        let me = std::env::current_exe().unwrap();
        let out = std::process::Command::new(me)
            .args(["--exact", "process::tests::core_dumps_are_off_for_good", "--nocapture"])
            .env("DUO_TEST_NO_CORE_DUMPS_CHILD", "1")
            .output()
            .unwrap();
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("1 passed"),
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
