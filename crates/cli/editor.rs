//! Writing text in the user's editor without leaving plaintext on disk: the temporary file
//! lives in a private tmpfs directory (`$XDG_RUNTIME_DIR`, else `/dev/shm`), is created
//! with mode 0600, and is removed afterwards whatever happens.

use crate::error::{CliError, Result};
use std::io::Write;
use std::path::PathBuf;

fn private_tmp_dir() -> Result<PathBuf> {
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from),
        Some(PathBuf::from("/dev/shm")),
    ];
    candidates.into_iter().flatten().find(|d| d.is_dir()).ok_or_else(|| {
        CliError::new("no private in-memory directory for the editor's temporary file").hint(
            "set XDG_RUNTIME_DIR to a tmpfs directory only you can read, or pass the text as an argument or on stdin",
        )
    })
}

/// The line that marks the guide off from the text, as git's `commit --cleanup=scissors`
/// does: everything from it down is removed. (`#` comment lines, as git uses by default,
/// would clash with Markdown headings in an entry.)
pub const SCISSORS: &str = "------------------------ >8 ------------------------";

/// The editor to run: `$VISUAL`, then `$EDITOR`, then `vi` (as git does).
fn editor_command() -> String {
    ["VISUAL", "EDITOR"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .find(|v| !v.trim().is_empty())
        .unwrap_or_else(|| "vi".to_string())
}

/// Extra arguments for Vim (and Neovim) so it keeps no copy of the text anywhere: no swap
/// file (`-n`), no viminfo/shada history (`-i NONE`), no backup or undo file. Only when the
/// command's program really is Vim (`--version` says so): other editors get nothing extra.
fn private_flags(editor: &str) -> &'static str {
    let program = editor.split_whitespace().next().unwrap_or("");
    let base = std::path::Path::new(program)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("");
    if !matches!(base, "vi" | "vim" | "nvim" | "vim.basic" | "vim.tiny") {
        return "";
    }
    let is_vim = std::process::Command::new(program)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output()
        .map(|o| {
            let v = String::from_utf8_lossy(&o.stdout);
            v.starts_with("VIM") || v.starts_with("NVIM")
        })
        .unwrap_or(false);
    // `-c` runs after the user's vimrc (which may `set backup` or `undofile`); both come
    // before the editor's own arguments, so they run before a scripted `-c wq`.
    if is_vim {
        " -n -i NONE -c 'set nobackup nowritebackup noundofile'"
    } else {
        ""
    }
}

/// The shell command that opens `$1` in `editor`, with [`private_flags`] right after the
/// program's name.
fn with_private_flags(editor: &str) -> String {
    let editor = editor.trim_start();
    let (program, rest) = editor.split_once(char::is_whitespace).unwrap_or((editor, ""));
    format!("{program}{} {rest} \"$1\"", private_flags(program))
}

/// What the person saved, without the scissors line and the guide below it.
pub fn cut_at_scissors(saved: &str) -> &str {
    let mut at = 0;
    for line in saved.split_inclusive('\n') {
        if line.trim_end_matches(['\n', '\r']) == SCISSORS {
            return &saved[..at];
        }
        at += line.len();
    }
    saved
}

/// Open the editor on `initial`, followed by the scissors line and `guide` (what to write,
/// and how to cancel); return what the user saved above the scissors line.
pub fn edit(initial: &str, guide: &str) -> Result<String> {
    let editor = editor_command();
    let mut file = tempfile::Builder::new()
        .prefix("duo-")
        .suffix(".md")
        .tempfile_in(private_tmp_dir()?)?;
    write!(
        file,
        "{initial}\n\n{SCISSORS}\nWrite above this line; everything from the line up here down is removed.\n{guide}\nTo cancel, leave the text above the line empty, save and quit: nothing is saved.\n"
    )?;
    file.flush()?;
    // The editor may carry arguments (`code --wait`), so let the shell split it.
    let status = std::process::Command::new("sh")
        .arg("-c")
        .arg(with_private_flags(&editor))
        .arg("duo-editor")
        .arg(file.path())
        .status()
        .map_err(|e| CliError::new(format!("could not start the editor '{editor}'")).cause(e))?;
    let saved = std::fs::read_to_string(file.path())?;
    // `file` is removed when dropped, also on the error paths above.
    drop(file);
    if !status.success() {
        return Err(
            CliError::new(format!("the editor '{editor}' exited with {status}; nothing was saved")).hint(
                "set $EDITOR to the editor you want (for example `export EDITOR=nano`), or pass the text on stdin",
            ),
        );
    }
    Ok(cut_at_scissors(&saved).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guide_is_cut_at_the_scissors_line_only() {
        let saved = format!("# A heading\nmy words\n\n{SCISSORS}\nWrite above this line\n");
        assert_eq!(cut_at_scissors(&saved), "# A heading\nmy words\n\n");
        assert_eq!(cut_at_scissors("no line here\n"), "no line here\n");
        let indented = format!("text\n  {SCISSORS}\nmore\n");
        assert_eq!(
            cut_at_scissors(&indented),
            indented,
            "only a line that is exactly the scissors"
        );
    }
}
