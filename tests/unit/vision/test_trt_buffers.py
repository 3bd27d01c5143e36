import numpy as np
import pytest

from edged.vision.engines.trt_buffers import BufferError, max_shape, plan_buffers, runtime_elements


def test_dynamic_batch_is_sized_for_the_largest_batch():
    assert max_shape((-1, 3, 112, 112), 8) == (8, 3, 112, 112)
    assert max_shape((1, 3, 240, 320), 8) == (1, 3, 240, 320)


def test_embedder_buffers_in_bytes():
    plan = plan_buffers(
        [("input", True, np.float32, (-1, 3, 112, 112)), ("output", False, np.float32, (-1, 512))], 8
    )
    assert [b.nbytes for b in plan] == [8 * 3 * 112 * 112 * 4, 8 * 512 * 4]
    assert [b.is_input for b in plan] == [True, False]


def test_detector_buffers_follow_the_engine_dtypes():
    plan = plan_buffers(
        [
            ("input", True, np.float32, (1, 3, 240, 320)),
            ("scores", False, np.float16, (1, 4420, 2)),
            ("boxes", False, np.float32, (1, 4420, 4)),
        ],
        8,
    )
    assert [b.nbytes for b in plan] == [3 * 240 * 320 * 4, 4420 * 2 * 2, 4420 * 4 * 4]


@pytest.mark.parametrize("shape", [(-1, -1, 64), (1, 0, 3), ()])
def test_unsupported_shapes_are_refused(shape):
    with pytest.raises(BufferError):
        max_shape(shape, 4)


def test_plan_needs_an_input_and_unique_names():
    with pytest.raises(BufferError, match="no input"):
        plan_buffers([("out", False, np.float32, (1, 2))], 1)
    with pytest.raises(BufferError, match="duplicate"):
        plan_buffers([("x", True, np.float32, (1, 2)), ("x", False, np.float32, (1, 2))], 1)


def test_runtime_shape_must_fit_the_buffer():
    (buf,) = plan_buffers([("input", True, np.float32, (-1, 1, 64, 64))], 4)
    assert runtime_elements((3, 1, 64, 64), buf) == 3 * 64 * 64
    with pytest.raises(BufferError, match="does not fit"):
        runtime_elements((5, 1, 64, 64), buf)
    with pytest.raises(BufferError, match="does not fit"):
        runtime_elements((1, 64, 64), buf)
    with pytest.raises(BufferError, match="dynamic"):
        runtime_elements((-1, 1, 64, 64), buf)
