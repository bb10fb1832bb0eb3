"""Hypothesis strategies for images: any shape and channel count, noisy or few-coloured."""

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

ANY_CHANNELS = st.sampled_from([1, 3, 4])


@st.composite
def images(draw, channels=ANY_CHANNELS, max_side=12):
    height = draw(st.integers(1, max_side))
    width = draw(st.integers(1, max_side))
    count = draw(channels)
    shape = (height, width) if count == 1 else (height, width, count)
    if draw(st.booleans()):
        return draw(hnp.arrays(np.uint8, shape))  # noise: usually more colours than codewords
    # A small palette, so the lossless path (distinct values <= 2**bits) is hit often.
    palette = draw(hnp.arrays(np.uint8, (draw(st.integers(1, 6)), count)))
    index = draw(hnp.arrays(np.uint8, (height, width), elements=st.integers(0, len(palette) - 1)))
    return palette[index].reshape(shape)
