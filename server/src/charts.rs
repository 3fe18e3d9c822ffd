//! Charts drawn with plotters as SVG on the server, so the browser bundle carries no chart
//! code: a funnel's step bars with their conversion, its time-to-convert distribution and
//! its conversion trend. Each function takes the numbers and returns the SVG document.

use plotters::{
    coord::ranged1d::SegmentValue,
    prelude::*,
    style::text_anchor::{HPos, Pos, VPos},
};

use app::{
    format::fit,
    types::{RetentionResult, SourceHour, StepResult, TimeBucket, TrendPoint},
};
use chrono::DurationRound;

const WIDTH: u32 = 720;
const HEIGHT: u32 = 300;
/// The palette of `style/main.css`: navy bars, green conversion, muted ink for text.
const BAR: RGBColor = RGBColor(0x1d, 0x4e, 0xd8);
const LINE: RGBColor = RGBColor(0x04, 0x78, 0x57);
const INK: RGBColor = RGBColor(0x4a, 0x55, 0x68);

#[derive(Debug, thiserror::Error)]
#[error("could not draw the chart: {0}")]
pub struct ChartError(String);

fn failed(e: impl std::fmt::Display) -> ChartError {
    ChartError(e.to_string())
}

fn font(size: u32) -> TextStyle<'static> {
    ("sans-serif", size).into_font().color(&INK)
}

/// Widest a title line may be, in characters of its font, before it is cut.
const TITLE_CHARS: usize = 80;
/// A generous width of one character, as a share of the font size asked for (plotters draws
/// SVG text at about 0.8 of it, and a character is about 0.55 em wide).
const CHAR_EM: f64 = 0.45;
/// The axis labels' font size, and the smallest it shrinks to so that many bars' labels fit.
const LABEL_FONT: f64 = 19.0;
const SMALLEST_LABEL_FONT: f64 = 14.0;

/// Bars of labelled counts, each with a caption over it, under `title` (what, when, which
/// filters: the chart is exported on its own). Axis labels are cut to their bar's room.
fn bars(
    labels: &[String],
    values: &[u64],
    captions: &[String],
    y_label: &str,
    title: &str,
) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let top = values.iter().copied().max().unwrap_or(0).max(1);
        let y_max = top + top / 5 + 1;
        // Labels shrink (down to a readable size) to fit their bar's room, and are cut beyond.
        let room_px = (f64::from(WIDTH) - 68.0 - 24.0) / labels.len().max(1) as f64 - 8.0;
        let longest = labels.iter().map(|l| l.chars().count()).max().unwrap_or(1).max(1) as f64;
        let label_font = (room_px / (longest * CHAR_EM)).clamp(SMALLEST_LABEL_FONT, LABEL_FONT);
        let label_chars = (room_px / (label_font * CHAR_EM)).floor().max(3.0) as usize;
        let mut chart = ChartBuilder::on(&root)
            .caption(fit(title, TITLE_CHARS), font(16))
            .margin(12)
            .x_label_area_size(44)
            .y_label_area_size(68)
            // A segmented 0..n has a slot after the last value; end at the last one.
            .build_cartesian_2d((0..labels.len().max(2) - 1).into_segmented(), 0u64..y_max)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .disable_x_mesh()
            .light_line_style(RGBColor(0xee, 0xf1, 0xf7))
            .y_desc(y_label)
            .x_labels(labels.len().max(1))
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => labels.get(*i).map(|l| fit(l, label_chars)).unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(font(label_font.round() as u32))
            .axis_desc_style(font(18))
            .draw()
            .map_err(failed)?;
        chart
            .draw_series(
                Histogram::vertical(&chart)
                    .style(BAR.filled())
                    .margin(14)
                    .data(values.iter().enumerate().map(|(i, v)| (i, *v))),
            )
            .map_err(failed)?;
        chart
            .draw_series(values.iter().zip(captions).enumerate().map(|(i, (v, caption))| {
                // Centred over the bar, standing on it.
                let over = font(20).pos(Pos::new(HPos::Center, VPos::Bottom));
                Text::new(caption.clone(), (SegmentValue::CenterOf(i), *v + y_max / 60), over)
            }))
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// One bar per step: customers who reached it, captioned with the conversion from step 1.
pub fn funnel_steps(steps: &[StepResult], title: &str) -> Result<String, ChartError> {
    let labels: Vec<String> = steps.iter().map(|s| format!("{}. {}", s.step, s.event)).collect();
    let values: Vec<u64> = steps.iter().map(|s| s.customers).collect();
    let captions: Vec<String> =
        steps.iter().map(|s| format!("{} · {:.0}%", s.customers, s.conversion_from_first * 100.0)).collect();
    bars(&labels, &values, &captions, "customers", title)
}

/// How long the customers who completed the funnel took, by bucket.
pub fn time_to_convert(buckets: &[TimeBucket], title: &str) -> Result<String, ChartError> {
    let labels: Vec<String> = buckets.iter().map(|b| b.label.clone()).collect();
    let values: Vec<u64> = buckets.iter().map(|b| b.customers).collect();
    let captions: Vec<String> = values.iter().map(u64::to_string).collect();
    bars(&labels, &values, &captions, "customers who completed", title)
}

/// Conversion (percent) by the period customers entered.
pub fn conversion_trend(points: &[TrendPoint], title: &str) -> Result<String, ChartError> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let n = points.len().max(2);
        let mut chart = ChartBuilder::on(&root)
            .caption(fit(title, TITLE_CHARS), font(16))
            .margin(12)
            .margin_right(32)
            .x_label_area_size(44)
            .y_label_area_size(68)
            .build_cartesian_2d(0..n - 1, 0f64..100f64)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(0xee, 0xf1, 0xf7))
            .y_desc("conversion %")
            .x_labels(points.len().clamp(2, 6))
            .x_label_formatter(&|i| {
                points.get(*i).map(|p| p.period_start.format("%b %d").to_string()).unwrap_or_default()
            })
            .label_style(font(19))
            .axis_desc_style(font(18))
            .draw()
            .map_err(failed)?;
        // Periods nobody entered have no conversion to draw (not 0 %).
        let series: Vec<(usize, f64)> =
            points.iter().enumerate().filter(|(_, p)| p.entered > 0).map(|(i, p)| (i, p.conversion * 100.0)).collect();
        chart.draw_series(LineSeries::new(series.clone(), LINE.stroke_width(3))).map_err(failed)?;
        chart.draw_series(series.iter().map(|&(i, y)| Circle::new((i, y), 4, LINE.filled()))).map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// Hours a volume chart shows: the day up to `until`'s hour.
pub const VOLUME_HOURS: i64 = 24;

/// Events per hour, one line per source, over the [`VOLUME_HOURS`] hours up to `until`'s
/// hour: every hour has its place on the axis, so a quiet hour is a 0, not a gap.
pub fn volume_by_source(volume: &[SourceHour], until: chrono::DateTime<chrono::Utc>) -> Result<String, ChartError> {
    let last = until.duration_trunc(chrono::Duration::hours(1)).unwrap_or(until);
    let hours: Vec<chrono::DateTime<chrono::Utc>> =
        (0..VOLUME_HOURS).rev().map(|back| last - chrono::Duration::hours(back)).collect();
    let mut sources: Vec<&str> = volume.iter().map(|v| v.source_id.as_str()).collect();
    sources.sort();
    sources.dedup();
    let top = volume.iter().map(|v| v.events).max().unwrap_or(0).max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(12)
            .margin_right(32)
            .x_label_area_size(44)
            .y_label_area_size(76)
            .build_cartesian_2d(0..hours.len().max(2) - 1, 0u64..top + top / 5 + 1)
            .map_err(failed)?;
        chart
            .configure_mesh()
            .light_line_style(RGBColor(0xee, 0xf1, 0xf7))
            .y_desc("events per hour")
            .x_labels(9)
            .x_label_formatter(&|i| hours.get(*i).map(|h| h.format("%H:00").to_string()).unwrap_or_default())
            .x_desc("hour (UTC)")
            .label_style(font(19))
            .axis_desc_style(font(18))
            .draw()
            .map_err(failed)?;
        let palette = [BAR, LINE, RGBColor(0xc2, 0x41, 0x0c), RGBColor(0x7c, 0x3a, 0xed), RGBColor(0x92, 0x40, 0x0e)];
        for (n, source) in sources.iter().enumerate() {
            let colour = palette[n % palette.len()];
            let points: Vec<(usize, u64)> = hours
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    let events = volume.iter().find(|v| v.hour == *h && v.source_id == *source).map_or(0, |v| v.events);
                    (i, events)
                })
                .collect();
            // Dots too, so that a single hour still shows.
            chart.draw_series(points.iter().map(|&(i, y)| Circle::new((i, y), 4, colour.filled()))).map_err(failed)?;
            chart
                .draw_series(LineSeries::new(points, colour.stroke_width(3)))
                .map_err(failed)?
                .label(source.to_string())
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], colour.stroke_width(3)));
        }
        if !sources.is_empty() {
            chart
                .configure_series_labels()
                .background_style(WHITE.mix(0.9))
                .border_style(RGBColor(0xdd, 0xe3, 0xee))
                .label_font(font(17))
                .draw()
                .map_err(failed)?;
        }
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

/// The cohort grid as a heatmap: one row per cohort (its start and size), one column per
/// period after it, each cell shaded by the share who came back and captioned with it. A
/// period still running is drawn hatched-light and captioned in brackets.
pub fn retention_heatmap(result: &RetentionResult, title: &str) -> Result<String, ChartError> {
    let rows = result.cohorts.len().max(1);
    let columns = result.average.shares.len().max(1);
    let height = (90 + 34 * rows as u32).max(160);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE).map_err(failed)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(fit(title, TITLE_CHARS), font(16))
            .margin(12)
            .x_label_area_size(36)
            .y_label_area_size(150)
            // A segmented 0..n has a slot after n: end at the last cohort and the last period.
            .build_cartesian_2d((0..columns.max(2) - 1).into_segmented(), (0..rows.max(2) - 1).into_segmented())
            .map_err(failed)?;
        let period = match result.period {
            app::types::TrendPeriod::Day => "day",
            app::types::TrendPeriod::Week => "week",
        };
        let row_label = |i: usize| {
            // The newest cohort at the top, as the table reads.
            result.cohorts.get(rows - 1 - i).map(|c| format!("{} · {}", c.start.format("%b %d"), c.customers))
        };
        chart
            .configure_mesh()
            .disable_mesh()
            .x_labels(columns)
            .y_labels(rows)
            .x_label_formatter(&|x| match x {
                SegmentValue::CenterOf(i) => format!("{period} {}", i + 1),
                _ => String::new(),
            })
            .y_label_formatter(&|y| match y {
                SegmentValue::CenterOf(i) => row_label(*i).unwrap_or_default(),
                _ => String::new(),
            })
            .label_style(font(15))
            .draw()
            .map_err(failed)?;
        let cells =
            result.cohorts.iter().enumerate().flat_map(|(r, cohort)| {
                cohort.periods.iter().enumerate().map(move |(k, cell)| (rows - 1 - r, k, *cell))
            });
        let cells: Vec<_> = cells.collect();
        chart
            .draw_series(cells.iter().map(|&(row, k, cell)| {
                // Deeper blue the more came back; a running period paler.
                let strength = if cell.complete { 0.15 + 0.85 * cell.share } else { 0.08 + 0.3 * cell.share };
                Rectangle::new(
                    [
                        (SegmentValue::Exact(k), SegmentValue::Exact(row)),
                        (SegmentValue::Exact(k + 1), SegmentValue::Exact(row + 1)),
                    ],
                    BAR.mix(strength).filled(),
                )
            }))
            .map_err(failed)?;
        chart
            .draw_series(cells.iter().map(|&(row, k, cell)| {
                let percent = format!("{:.0}%", cell.share * 100.0);
                let caption = if cell.complete { percent } else { format!("({percent})") };
                let ink = if cell.complete && cell.share > 0.45 { WHITE } else { INK };
                let centred = ("sans-serif", 15).into_font().color(&ink).pos(Pos::new(HPos::Center, VPos::Center));
                Text::new(caption, (SegmentValue::CenterOf(k), SegmentValue::CenterOf(row)), centred)
            }))
            .map_err(failed)?;
        root.present().map_err(failed)?;
    }
    Ok(svg)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(step: usize, event: &str, customers: u64, from_first: f64) -> StepResult {
        StepResult {
            step,
            event: event.into(),
            customers,
            conversion_from_first: from_first,
            conversion_from_previous: from_first,
            median_seconds: None,
            average_seconds: None,
            time_to_convert: vec![],
        }
    }

    #[test]
    fn the_retention_heatmap_has_a_cell_per_cohort_and_period_with_its_share() {
        use app::types::{RetentionCell, RetentionCohort, RetentionCurve, TrendPeriod};
        let cell = |returned: u64, customers: u64, complete: bool| RetentionCell {
            returned,
            share: returned as f64 / customers as f64,
            complete,
        };
        let day = |d: u32| chrono::TimeZone::with_ymd_and_hms(&chrono::Utc, 2026, 11, d, 0, 0, 0).unwrap();
        let result = RetentionResult {
            period: TrendPeriod::Week,
            start_event: Some("signed_up".into()),
            return_event: None,
            cohorts: vec![
                RetentionCohort { start: day(2), customers: 4, periods: vec![cell(3, 4, true), cell(1, 4, false)] },
                RetentionCohort { start: day(9), customers: 2, periods: vec![cell(1, 2, false), cell(0, 2, false)] },
            ],
            average: RetentionCurve { group: "all".into(), customers: 6, shares: vec![Some(0.75), None] },
            breakdown: vec![],
            breakdown_by: None,
        };
        let svg = retention_heatmap(&result, "Retention after signed_up").unwrap();
        for text in ["Nov 02 · 4", "Nov 09 · 2", "week 1", "week 2", "75%", "(25%)", "(50%)", "(0%)", "Retention after"]
        {
            assert!(svg.contains(text), "{text} missing from {svg}");
        }
        assert_eq!(svg.matches("<rect").count() - 1, 4, "a background and one cell per cohort and period");
    }

    #[test]
    fn step_bars_name_each_step_and_its_conversion() {
        let title = "Funnel viewed → bought · 1 Nov – 30 Nov 2026 (UTC)";
        let svg = funnel_steps(&[step(1, "viewed", 200, 1.0), step(2, "bought", 50, 0.25)], title).unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80.min(svg.len())]);
        for text in ["1. viewed", "2. bought", "200 · 100%", "50 · 25%", "customers", title] {
            assert!(svg.contains(text), "{text} missing");
        }
        // Two bars: filled rectangles in the bar colour.
        assert_eq!(svg.matches("#1D4ED8").count(), 2, "{svg}");
        // Long step names are cut to their bar's room instead of running into the next.
        let long: Vec<StepResult> =
            (1..=6).map(|i| step(i, "a_very_long_event_name_from_a_tracking_plan", 10, 1.0)).collect();
        let svg = funnel_steps(&long, title).unwrap();
        assert!(!svg.contains("tracking_plan<"), "cut");
        assert_eq!(svg.matches("…").count(), 6, "each label cut to its bar, with an ellipsis: {svg}");
        // Nine short bucket labels fit whole in a smaller font.
        let buckets: Vec<TimeBucket> =
            ["< 1 min", "1–5 min", "5–15 min", "15–60 min", "1–4 h", "4–24 h", "1–3 d", "3–7 d", "≥ 7 d"]
                .iter()
                .map(|l| TimeBucket { label: l.to_string(), below_seconds: None, customers: 1 })
                .collect();
        let svg = time_to_convert(&buckets, title).unwrap();
        assert!(svg.contains("15–60 min") && !svg.contains("…"), "{svg}");
    }

    #[test]
    fn volume_has_a_line_and_a_legend_entry_per_source() {
        let hour =
            |h: u32| chrono::DateTime::parse_from_rfc3339(&format!("2026-11-23T{h:02}:00:00Z")).unwrap().to_utc();
        let v = |source: &str, h: u32, events: u64| SourceHour { source_id: source.into(), hour: hour(h), events };
        let svg = volume_by_source(&[v("web", 10, 5), v("ios", 11, 2), v("web", 11, 7)], hour(11)).unwrap();
        // One thick line per source, in the first two palette colours (ios, then web).
        let lines = svg.lines().filter(|l| l.starts_with("<polyline") && l.contains(r#"stroke-width="3""#));
        assert_eq!(lines.count(), 2 + 2, "two series lines and two legend marks");
        assert!(svg.contains(r##"stroke="#1D4ED8" stroke-width="3""##));
        assert!(svg.contains(r##"stroke="#047857" stroke-width="3""##));
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        assert!(texts.contains(&"web") && texts.contains(&"ios") && texts.contains(&"hour (UTC)"), "{svg}");
    }

    #[test]
    fn one_busy_hour_still_gets_the_whole_day_on_its_axis() {
        let hour =
            |h: u32| chrono::DateTime::parse_from_rfc3339(&format!("2026-11-23T{h:02}:00:00Z")).unwrap().to_utc();
        let until = hour(14) + chrono::Duration::minutes(35);
        let svg =
            volume_by_source(&[SourceHour { source_id: "web".into(), hour: hour(14), events: 9 }], until).unwrap();
        let texts: Vec<&str> = svg.lines().map(str::trim).collect();
        // The day from 15:00 yesterday to 14:00, labelled every few hours.
        assert!(texts.contains(&"15:00") && texts.contains(&"01:00") && texts.contains(&"11:00"), "{svg}");
        // A dot for each of the 24 hours (0 where nothing came), and the one legend mark.
        assert_eq!(svg.matches("<circle").count(), 24, "{svg}");
    }

    #[test]
    fn an_empty_trend_still_draws_its_axes() {
        let svg = conversion_trend(&[], "Conversion").unwrap();
        assert!(svg.contains("conversion %"));
        let point = |day: u32, conversion: f64| TrendPoint {
            period_start: chrono::DateTime::parse_from_rfc3339(&format!("2026-11-{day:02}T00:00:00Z"))
                .unwrap()
                .to_utc(),
            entered: 10,
            converted: (conversion * 10.0) as u64,
            conversion,
        };
        let svg = conversion_trend(&[point(20, 0.5), point(21, 0.3)], "Conversion").unwrap();
        assert!(svg.contains("Nov 20") && svg.contains("Nov 21"));
        assert!(svg.contains("<polyline"), "the line is drawn");
    }
}
