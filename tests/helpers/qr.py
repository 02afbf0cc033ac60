"""Reading a booth's printed QR code back, as a guest's phone would: a standard reader
(zxing-cpp, the ZXing C++ library), on the picture at the booth's print size."""

from __future__ import annotations

import io

import zxingcpp
from PIL import Image, ImageOps

PRINT_SHORT_SIDE = 1200  # a 4x6 in print at 300 dpi: 1800 x 1200


def decode_qr(data: bytes, *, print_short_side: int = PRINT_SHORT_SIDE) -> str | None:
    """The text of the one QR code in the picture, scaled to the print (EXIF-upright), or
    None when no code reads."""
    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data))).convert("RGB")
    scale = print_short_side / min(img.size)
    if scale < 1:
        img = img.resize((round(img.width * scale), round(img.height * scale)),
                         Image.Resampling.LANCZOS)
    codes = [c for c in zxingcpp.read_barcodes(img) if c.format == zxingcpp.BarcodeFormat.QRCode]
    if not codes:
        return None
    assert len(codes) == 1, [c.text for c in codes]
    return codes[0].text
