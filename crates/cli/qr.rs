//! QR codes on a terminal, so a ticket can go from one screen to a phone's camera.
//!
//! Two rows of modules per line of text, drawn with Unicode half blocks. Light modules are
//! drawn and dark ones left blank, so on the usual light-on-dark terminal the code shows as
//! dark on light, as scanners expect (on a dark-on-light terminal it shows inverted, which
//! most phone scanners also read).

use qrcode::{Color, EcLevel, QrCode};

/// Modules of light border around the code (the standard asks for 4).
const QUIET: usize = 4;

/// `text` as a QR code, one string of lines ending in `\n`; `None` if it does not fit.
pub fn render(text: &str) -> Option<String> {
    let code = QrCode::with_error_correction_level(text.as_bytes(), EcLevel::L).ok()?;
    let width = code.width();
    let colors = code.to_colors();
    let size = width + 2 * QUIET;
    // Light outside the code: the quiet zone.
    let light = |x: usize, y: usize| -> bool {
        if x < QUIET || y < QUIET || x >= QUIET + width || y >= QUIET + width {
            return true;
        }
        colors[(y - QUIET) * width + (x - QUIET)] == Color::Light
    };
    let mut out = String::with_capacity(size * size / 2 * 3 + size);
    for y in (0..size).step_by(2) {
        for x in 0..size {
            // An odd size leaves the last line's lower half outside the code: blank.
            let (top, bottom) = (light(x, y), y + 1 < size && light(x, y + 1));
            out.push(match (top, bottom) {
                (true, true) => '█',
                (true, false) => '▀',
                (false, true) => '▄',
                (false, false) => ' ',
            });
        }
        out.push('\n');
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Read the drawing back into modules (`true` = dark), as a camera would see it.
    fn modules(drawing: &str) -> Vec<Vec<bool>> {
        let mut rows = Vec::new();
        for line in drawing.lines() {
            let (mut top, mut bottom) = (Vec::new(), Vec::new());
            for c in line.chars() {
                let (t, b) = match c {
                    '█' => (true, true),
                    '▀' => (true, false),
                    '▄' => (false, true),
                    ' ' => (false, false),
                    other => panic!("unexpected character {other:?}"),
                };
                top.push(!t);
                bottom.push(!b);
            }
            rows.push(top);
            rows.push(bottom);
        }
        rows
    }

    fn decode(drawing: &str) -> String {
        let m = modules(drawing);
        let (h, w) = (m.len(), m[0].len());
        let scale = 4;
        let mut img = rqrr::PreparedImage::prepare_from_bitmap(w * scale, h * scale, |x, y| m[y / scale][x / scale]);
        let grids = img.detect_grids();
        assert_eq!(grids.len(), 1, "one code in the drawing");
        grids[0].decode().expect("decodes").1
    }

    #[test]
    fn a_ticket_drawn_reads_back_as_the_same_ticket() {
        let ticket = "duo1:e0d2166b678febe87757a1bef707c40939e438e9f9bbc4e6813d877fc69ab652@10.77.1.2:50617,192.168.1.20:50617,https://relay.example.org:8443/#514-juniper-garlic-cupboard";
        let drawing = render(ticket).unwrap();
        assert_eq!(decode(&drawing), ticket);
        // A square of whole lines, the same every time.
        let lines: Vec<&str> = drawing.lines().collect();
        let width = lines[0].chars().count();
        assert!(lines.iter().all(|l| l.chars().count() == width));
        assert_eq!(lines.len(), width.div_ceil(2));
        assert_eq!(render(ticket).unwrap(), drawing);
        // The quiet zone is light all round (an odd number of rows leaves the last line's
        // lower half blank).
        let (last, rest) = lines.split_last().unwrap();
        assert!(rest[0].chars().all(|c| c == '█'));
        assert!(rest.iter().all(|l| l.starts_with("████") && l.ends_with("████")));
        assert!(last.chars().all(|c| c == '▀' || c == '█'));
    }

    #[test]
    fn too_much_text_is_no_code() {
        assert!(render(&"x".repeat(4000)).is_none());
        assert!(render("short").is_some());
    }
}
