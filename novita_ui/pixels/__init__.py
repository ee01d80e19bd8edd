"""Pure image work: decoding and normalising photos, masks, the crop sent to Novita, the offline engines and
JPEG block edits. Bytes and arrays in, bytes and arrays out: no network, no files, no gradio.

One convention: RGB(A) uint8 ``H x W x C`` images, uint8 ``H x W`` masks in {0, 255}.
"""
