//! Pictures drawn on the server: a pool's use of a limit as an SVG bar.
//! Colours come from the stylesheet (classes), so the page needs no inline
//! style and the Content-Security-Policy can forbid it.

use maud::{Markup, html};

const WIDTH: u64 = 200;
const HEIGHT: u64 = 12;

/// How full a bar is: the class that colours it.
fn level(used: u64, max: u64) -> &'static str {
    if used >= max {
        "full"
    } else if used * 10 >= max * 8 {
        "high"
    } else {
        "ok"
    }
}

/// `used` against `max` (`None`: unlimited, drawn as an empty track with
/// the use marked at a fixed scale). `label` names the bar for screen readers.
pub fn bar(label: &str, used: u64, max: Option<u64>) -> Markup {
    let (fill, class) = match max {
        Some(0) => (WIDTH, "full"),
        Some(m) => (used.min(m).saturating_mul(WIDTH) / m.max(1), level(used, m)),
        None => (0, "ok"),
    };
    // No limit: a dashed outline, so an empty bar never reads as "none used".
    let track = if max.is_none() { "track open" } else { "track" };
    html! {
        svg.bar viewBox={"0 0 " (WIDTH) " " (HEIGHT)} preserveAspectRatio="none"
            width="100%" height=(HEIGHT) role="img" aria-label=(label) {
            rect class=(track) x="0.5" y="0.5" width=(WIDTH - 1) height=(HEIGHT - 1) rx="3" {}
            @if fill > 0 {
                rect class=(class) x="0" y="0" width=(fill) height=(HEIGHT) rx="3" {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bars_scale_and_colour_by_use() {
        let half = bar("servers", 2, Some(4)).into_string();
        assert!(
            half.contains(r#"width="100""#) && half.contains(r#"class="ok""#),
            "{half}"
        );
        let high = bar("cores", 40, Some(48)).into_string();
        assert!(high.contains(r#"class="high""#), "{high}");
        let over = bar("servers", 5, Some(4)).into_string();
        assert!(
            over.contains(r#"width="200""#) && over.contains(r#"class="full""#),
            "{over}"
        );
        let free = bar("servers", 3, None).into_string();
        assert!(
            !free.contains(r#"class="ok""#) && free.contains("track open"),
            "{free}"
        );
        let hostile = bar("<script>\"&", 1, Some(2)).into_string();
        assert!(
            hostile.contains("aria-label=\"&lt;script&gt;&quot;&amp;\""),
            "{hostile}"
        );
    }
}
