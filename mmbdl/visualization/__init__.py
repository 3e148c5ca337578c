"""Pictures of runs: captioned image grids, label maps in class colours."""
from .image_grid import (GridLayout, caption_width, colourise, compose_grid,
                         fit_tile)

__all__ = ['GridLayout', 'caption_width', 'colourise', 'compose_grid',
           'fit_tile']
