"""Translation of image folders with a trained generator (hook and tool)."""
from .image_translation import (COMPLETE_FILE, ImageTranslator,
                                generator_fingerprint, get_generator,
                                list_images, load_image, make_sample_sheet,
                                output_relpath, translate_directory,
                                write_png_atomic)

__all__ = [
    'COMPLETE_FILE', 'ImageTranslator', 'generator_fingerprint',
    'get_generator', 'list_images', 'load_image', 'make_sample_sheet',
    'output_relpath', 'translate_directory', 'write_png_atomic'
]
