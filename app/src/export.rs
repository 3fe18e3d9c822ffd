//! Downloads: CSV cells made safe for spreadsheets, and a chart's SVG painted on a canvas and
//! saved as PNG (for slides and documents that do not take SVG). The SVG itself and CSV are
//! plain `data:` links.

/// One CSV text cell: quoted, with inner quotes doubled, and with a leading `'` when the text
/// starts like a spreadsheet formula (`=`, `+`, `-`, `@`, tab, carriage return). Event names and
/// property values come from whoever sends events, so an export opened in Excel or Sheets must
/// never run `=cmd|...` or `=HYPERLINK(...)` (OWASP's advice on CSV injection).
pub fn csv_cell(text: &str) -> String {
    let formula_like = text.starts_with(['=', '+', '-', '@', '\t', '\r']);
    let prefix = if formula_like { "'" } else { "" };
    format!("\"{prefix}{}\"", text.replace('"', "\"\""))
}

/// Saves `svg` as a PNG file named `file_name`, drawn at twice its size so it stays sharp on
/// high-density screens. Does nothing on the server; failures go to the browser console, as
/// there is nothing the viewer could do about a canvas the browser refuses.
pub fn download_png(svg: String, file_name: String) {
    #[cfg(feature = "hydrate")]
    leptos::task::spawn_local(async move {
        if let Err(e) = browser::draw_and_save(&svg, &file_name).await {
            leptos::logging::warn!("could not export the chart as PNG: {e:?}");
        }
    });
    #[cfg(not(feature = "hydrate"))]
    let _ = (svg, file_name);
}

#[cfg(feature = "hydrate")]
mod browser {
    use wasm_bindgen::{JsCast, JsValue};
    use web_sys::{CanvasRenderingContext2d, HtmlAnchorElement, HtmlCanvasElement, HtmlImageElement};

    const SCALE: f64 = 2.0;

    pub async fn draw_and_save(svg: &str, file_name: &str) -> Result<(), JsValue> {
        let document = web_sys::window().and_then(|w| w.document()).ok_or("no document")?;
        let image = HtmlImageElement::new()?;
        image.set_src(&format!("data:image/svg+xml;charset=utf-8,{}", crate::pages::journey_map::encode(svg)));
        wasm_bindgen_futures::JsFuture::from(image.decode()).await?;
        let (width, height) = (image.natural_width() as f64, image.natural_height() as f64);
        let canvas: HtmlCanvasElement = document.create_element("canvas")?.dyn_into()?;
        canvas.set_width((width * SCALE) as u32);
        canvas.set_height((height * SCALE) as u32);
        let context: CanvasRenderingContext2d = canvas.get_context("2d")?.ok_or("no 2d canvas")?.dyn_into()?;
        // PNG keeps transparency; charts are drawn for a white page.
        context.set_fill_style_str("#ffffff");
        context.fill_rect(0.0, 0.0, width * SCALE, height * SCALE);
        context.draw_image_with_html_image_element_and_dw_and_dh(&image, 0.0, 0.0, width * SCALE, height * SCALE)?;
        let link: HtmlAnchorElement = document.create_element("a")?.dyn_into()?;
        link.set_href(&canvas.to_data_url_with_type("image/png")?);
        link.set_download(file_name);
        link.click();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::csv_cell;

    #[test]
    fn csv_cells_are_quoted_and_formulas_neutralised() {
        assert_eq!(csv_cell("view"), "\"view\"");
        assert_eq!(csv_cell("buy \"now\""), "\"buy \"\"now\"\"\"");
        assert_eq!(csv_cell("=cmd|' /C calc'!A0"), "\"'=cmd|' /C calc'!A0\"");
        for risky in ["+1", "-1+2", "@SUM(A1)", "\tx", "\rx"] {
            assert!(csv_cell(risky).starts_with("\"'"), "{risky:?} must be neutralised");
        }
        // A formula character later in the text is harmless.
        assert_eq!(csv_cell("a=b"), "\"a=b\"");
    }
}
