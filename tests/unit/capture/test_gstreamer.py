import pytest
from pydantic import TypeAdapter, ValidationError

from edged.capture.gstreamer import (
    GStreamerError,
    JetsonCsiSourceConfig,
    JetsonRtspSourceConfig,
    JetsonSourceConfig,
    JetsonUsbSourceConfig,
    describe,
    opencv_has_gstreamer,
    pipeline_for,
    rtsp_pipeline,
)
from edged.config.secrets import SecretRef

APPSINK = "appsink drop=true max-buffers=1 sync=false"


def elements(pipeline: str) -> list[str]:
    return [part.strip().split(" ")[0] for part in pipeline.split(" ! ")]


def test_csi_camera_uses_argus_and_the_vic():
    cfg = JetsonCsiSourceConfig(sensor_id=1, width=1920, height=1080, fps=60, flip_method=2)
    assert pipeline_for(cfg) == (
        "nvarguscamerasrc sensor-id=1 ! "
        "video/x-raw(memory:NVMM),width=1920,height=1080,framerate=60/1,format=NV12 ! "
        "nvvidconv flip-method=2 ! video/x-raw,width=1920,height=1080,format=BGRx ! "
        "videoconvert ! video/x-raw,format=BGR ! " + APPSINK
    )


def test_vic_scales_to_the_output_size():
    cfg = JetsonCsiSourceConfig(width=3840, height=2160, output_width=1280, output_height=720)
    p = pipeline_for(cfg)
    assert "width=3840,height=2160" in p
    assert "nvvidconv flip-method=0 ! video/x-raw,width=1280,height=720,format=BGRx" in p


def test_usb_mjpeg_is_decoded_in_hardware():
    p = pipeline_for(JetsonUsbSourceConfig(device="/dev/video2", width=640, height=480, fps=30))
    assert elements(p) == [
        "v4l2src",
        "image/jpeg,width=640,height=480,framerate=30/1",
        "nvv4l2decoder",
        "nvvidconv",
        "video/x-raw,width=640,height=480,format=BGRx",
        "videoconvert",
        "video/x-raw,format=BGR",
        "appsink",
    ]
    assert p.startswith("v4l2src device=/dev/video2 io-mode=2 ! ")
    assert "nvv4l2decoder mjpeg=1" in p


def test_usb_mjpeg_can_decode_on_the_cpu():
    p = pipeline_for(JetsonUsbSourceConfig(mjpeg_decoder="jpegdec"))
    assert "jpegdec" in elements(p) and "nvv4l2decoder" not in p
    assert elements(p).index("jpegdec") < elements(p).index("nvvidconv")


def test_usb_yuyv_goes_straight_to_the_vic():
    p = pipeline_for(JetsonUsbSourceConfig(format="yuyv", width=1280, height=720, fps=10))
    assert "video/x-raw,format=YUY2,width=1280,height=720,framerate=10/1 ! nvvidconv" in p
    assert "jpeg" not in p


@pytest.mark.parametrize("device", ["/dev/sda", "video0", "/dev/video0; rm -rf /"])
def test_usb_device_must_be_a_video_node(device):
    with pytest.raises(ValidationError):
        JetsonUsbSourceConfig(device=device)


@pytest.mark.parametrize(("codec", "depay"), [("h264", "rtph264depay"), ("h265", "rtph265depay")])
def test_rtsp_is_decoded_by_nvdec(codec, depay):
    cfg = JetsonRtspSourceConfig(url="rtsp://10.0.0.5:554/stream1", codec=codec, latency_ms=100)
    p = pipeline_for(cfg)
    assert elements(p) == [
        "rtspsrc",
        depay,
        f"{codec}parse",
        "nvv4l2decoder",
        "nvvidconv",
        "video/x-raw,width=1280,height=720,format=BGRx",
        "videoconvert",
        "video/x-raw,format=BGR",
        "appsink",
    ]
    assert 'location="rtsp://10.0.0.5:554/stream1" latency=100 protocols=tcp drop-on-latency=true' in p


@pytest.mark.parametrize(
    "url", ["http://cam/stream", "rtsp://admin:secret@cam/stream", "rtsp://cam/a b", 'rtsp://cam/"x']
)
def test_rtsp_url_without_credentials_or_quotes(url):
    with pytest.raises(ValidationError):
        JetsonRtspSourceConfig(url=url)


def test_rtsp_password_comes_from_its_secret_and_is_never_described(tmp_path, monkeypatch):
    monkeypatch.setenv("CAM_PW", "s3cr3t-pw")
    cfg = JetsonRtspSourceConfig(url="rtsp://cam/live", username="viewer", password=SecretRef(env="CAM_PW"))
    assert 'user-id="viewer" user-pw="s3cr3t-pw"' in pipeline_for(cfg)
    shown = describe(cfg)
    assert "s3cr3t-pw" not in shown
    assert "CAM_PW" in shown


def test_rtsp_password_with_a_quote_is_refused():
    cfg = JetsonRtspSourceConfig(url="rtsp://cam/live", username="viewer")
    with pytest.raises(GStreamerError):
        rtsp_pipeline(cfg, password='pa"ss')


def test_config_union_is_chosen_by_type():
    adapter = TypeAdapter(JetsonSourceConfig)
    assert isinstance(adapter.validate_python({"type": "jetson-csi"}), JetsonCsiSourceConfig)
    assert isinstance(adapter.validate_python({"type": "jetson-usb"}), JetsonUsbSourceConfig)
    with pytest.raises(ValidationError):
        adapter.validate_python({"type": "jetson-csi", "sensor": 0})


JETPACK_INFO = """
  Video I/O:
    FFMPEG:                      YES
    GStreamer:                   YES (1.20.3)
    v4l/v4l2:                    YES (linux/videodev2.h)
"""
PIP_INFO = """
  Video I/O:
    FFMPEG:                      YES
    GStreamer:                   NO
"""


def test_opencv_gstreamer_support_is_read_from_the_build_information():
    assert opencv_has_gstreamer(JETPACK_INFO)
    assert not opencv_has_gstreamer(PIP_INFO)
    assert not opencv_has_gstreamer("no video section at all")
