//! Turning an untrusted upload into the bytes a shop serves. The format comes from the bytes
//! (never the name or a header); the dimensions are read from the header and bounded before any
//! pixel is decoded, and the decoder runs under allocation limits; what is stored is re-encoded
//! from pixels, so EXIF (camera, location) and every other metadata block are gone.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder as _, ImageFormat, ImageReader, Limits};

use crate::error::AppError;

/// Largest upload accepted.
pub const MAX_UPLOAD_BYTES: usize = 10 * 1024 * 1024;
/// Largest width or height accepted, and largest pixel count.
pub const MAX_SIDE: u32 = 12_000;
pub const MAX_PIXELS: u64 = 50_000_000;
/// Stored images are at most this wide and high; thumbnails at most [`THUMBNAIL_SIDE`].
pub const FULL_SIDE: u32 = 2048;
pub const THUMBNAIL_SIDE: u32 = 320;

#[derive(Debug)]
pub struct Processed {
    pub content_type: &'static str,
    pub width: u32,
    pub height: u32,
    pub full: Vec<u8>,
    pub thumbnail: Vec<u8>,
}

fn invalid(message: impl Into<String>) -> AppError {
    AppError::unprocessable("invalid_image", message)
}

/// Checks, decodes, bounds and re-encodes an upload. JPEG stays JPEG and PNG stays PNG; WebP is
/// stored as PNG when it has transparency and as JPEG otherwise. Orientation from EXIF is applied
/// to the pixels before the metadata is dropped.
pub fn process(bytes: &[u8]) -> Result<Processed, AppError> {
    if bytes.len() > MAX_UPLOAD_BYTES {
        return Err(AppError::PayloadTooLarge { limit: MAX_UPLOAD_BYTES });
    }
    let format = match image::guess_format(bytes) {
        Ok(f @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => f,
        _ => return Err(invalid("the upload is not a JPEG, PNG or WebP image")),
    };
    let (width, height) = ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .map_err(|e| invalid(format!("the image header could not be read: {e}")))?;
    if width == 0 || height == 0 {
        return Err(invalid("the image has no pixels"));
    }
    if width > MAX_SIDE || height > MAX_SIDE || u64::from(width) * u64::from(height) > MAX_PIXELS {
        return Err(AppError::unprocessable(
            "image_too_large",
            format!(
                "the image is {width} × {height} pixels; at most {MAX_SIDE} on a side and {} megapixels",
                MAX_PIXELS / 1_000_000
            ),
        ));
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(MAX_PIXELS * 4 * 2);
    reader.limits(limits);
    let mut decoder = reader.into_decoder().map_err(|e| invalid(format!("the image could not be read: {e}")))?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let mut img =
        DynamicImage::from_decoder(decoder).map_err(|e| invalid(format!("the image could not be decoded: {e}")))?;
    img.apply_orientation(orientation);

    let full = if img.width() > FULL_SIDE || img.height() > FULL_SIDE {
        img.resize(FULL_SIDE, FULL_SIDE, image::imageops::FilterType::Triangle)
    } else {
        img
    };
    let thumbnail = full.thumbnail(THUMBNAIL_SIDE, THUMBNAIL_SIDE);
    let png = format == ImageFormat::Png || (format == ImageFormat::WebP && full.color().has_alpha());
    let encode = |img: &DynamicImage| -> Result<Vec<u8>, AppError> {
        let mut out = Vec::new();
        let done = if png {
            img.write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        } else {
            let rgb = img.to_rgb8();
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85).encode_image(&rgb)
        };
        done.map_err(|e| AppError::Internal(anyhow::Error::new(e).context("encoding an image")))?;
        Ok(out)
    };
    Ok(Processed {
        content_type: if png { "image/png" } else { "image/jpeg" },
        width: full.width(),
        height: full.height(),
        full: encode(&full)?,
        thumbnail: encode(&thumbnail)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(w: u32, h: u32) -> Vec<u8> {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([200, 10, 10]));
        let mut out = Vec::new();
        DynamicImage::ImageRgb8(img).write_to(&mut Cursor::new(&mut out), ImageFormat::Png).unwrap();
        out
    }

    #[test]
    fn big_images_are_scaled_and_thumbnailed() {
        let p = process(&png(3000, 1500)).unwrap();
        assert_eq!((p.content_type, p.width, p.height), ("image/png", 2048, 1024));
        let t = image::load_from_memory(&p.thumbnail).unwrap();
        assert_eq!((t.width(), t.height()), (320, 160));
    }

    #[test]
    fn not_images_are_refused() {
        assert!(process(b"GIF89a not what we take").is_err());
        assert!(process(b"hello").is_err());
    }
}
