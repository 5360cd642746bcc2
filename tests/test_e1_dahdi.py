"""DAHDI backend without a card: config generation, status parsing, ioctl numbers, events.

The /proc/dahdi and dahdi_scan texts below are laid out exactly as dahdi-linux's
``dahdi_seq_show`` (dahdi-base.c) and dahdi-tools' ``dahdi_scan.c`` print them, with the span
names and descriptions the DAHDI sources use in their own documentation.
"""
from __future__ import annotations

import shutil
import subprocess
import textwrap

import pytest

from drivers.e1_card import dahdi
from drivers.e1_card.errors import BackendError, ConfigError, DahdiParseError
from drivers.e1_card.span import SpanConfig, backend_class
from drivers.e1_card.trunks import load_trunks

PROC_PRI = (
    'Span 1: TE2/0/1 "T2XXP (PCI) Card 0 Span 1" (MASTER) HDB3/CCS/CRC4 RED \n'
    "\tBPV count: 3\n"
    "\tCRC4 error count: 12\n"
    "\tE-bit error count: 2\n"
    "\tFAS error count: 5\n"
    "\tTiming slips: 1\n"
    "\n"
    "\t   1 TE2/0/1/1 Clear (In use) RED (EC: OSLEC - INACTIVE) \n"
    "\t   2 TE2/0/1/2 Clear RED (EC: OSLEC - INACTIVE) \n"
    "\t  16 TE2/0/1/16 Hardware-assisted HDLC (In use) RED \n"
    "\t  17 TE2/0/1/17 Clear RED \n"
)

PROC_CAS = (
    'Span 2: TE4/0/2 "T4XXP (PCI) Card 0 Span 2" HDB3//CRC4 ClockSource \n'
    "\n"
    "\t  32 TE4/0/2/1 CAS (In use) (EC: OSLEC - ACTIVE) \n"
    "\t  33 TE4/0/2/2 CAS \n"
    "\t  47 TE4/0/2/16 Reserved \n"
    "\t  48 TE4/0/2/17 CAS \n"
)

# published outputs: XiVO's hardware-echo-canceller guide (TE2xx PRI span), a Sangoma A101
# E1 setup note, and an analog card (span without a name)
PROC_PUBLISHED = [
    ('Span 1: TE2/0/1 "T2XXP (PCI) Card 0 Span 1" HDB3/CCS ClockSource \n\n'
     "   1 TE2/0/1/1 Clear (In use) (EC: VPMOCT064 - INACTIVE)\n",
     {"name": "TE2/0/1", "framing": "CCS", "line_code": "HDB3", "crc4": False, "clock_source": True}),
    ('Span 1: WPE1/0 "wanpipe1 card 0" (MASTER) CCS/HDB3/CRC4\n\n'
     "   1 WPE1/0/1 Clear\n"
     "  16 WPE1/0/16 Hardware assisted D-channel\n"
     "  17 WPE1/0/17 Clear\n",
     {"name": "WPE1/0", "framing": "CCS", "line_code": "HDB3", "crc4": True, "master": True}),
    ('Span 1:  "" (MASTER)\n'
     "           1 WCTDM/16/0 FXSKS (In use) RED\n"
     "           2 WCTDM/16/1 FXSKS (In use)\n",
     {"name": "", "description": "", "master": True, "alarms": []}),
]

DAHDI_SCAN = textwrap.dedent("""\
    [1]
    active=yes
    alarms=OK
    description=T4XXP (PCI) Card 0 Span 1
    name=TE4/0/1
    manufacturer=Digium
    devicetype=Wildcard TE420 (5th Gen)
    location=Board ID Switch 0
    basechan=1
    totchans=31
    irq=209
    type=digital-E1
    syncsrc=1
    lbo=0 db (CSU)/0-133 feet (DSX-1)
    coding_opts=HDB3
    framing_opts=CCS,CRC4
    coding=HDB3
    framing=CCS/CRC4
    [2]
    active=yes
    alarms=RED/LFA
    description=T4XXP (PCI) Card 0 Span 2
    name=TE4/0/2
    manufacturer=Digium
    devicetype=Wildcard TE420 (5th Gen)
    location=Board ID Switch 0
    basechan=32
    totchans=31
    irq=209
    type=digital-E1
    syncsrc=1
    lbo=0 db (CSU)/0-133 feet (DSX-1)
    coding_opts=HDB3
    framing_opts=CCS,CRC4
    coding=HDB3
    framing=CAS/CRC4
    [3]
    active=yes
    alarms=UNCONFIGURED
    description=OpenVox A1200P/A800P Board 13
    name=OPVXA1200/12
    manufacturer=OpenVox
    devicetype=OpenVox A1200P/A800P
    location=PCI Bus 01 Slot 04
    basechan=63
    totchans=12
    irq=193
    type=analog
    port=63,FXO
    port=64,none
    """)

TRUNKS = """
e1:
  spans:
    - span: 1
      name: CT-1
      protocol: r2-cn
      timing: 1
      max_dnis: 8
    - span: 2
      name: CU-PRI
      protocol: pri-cpe
      timing: 2
      switchtype: euroisdn
"""


def test_system_conf_for_r2_and_pri_spans():
    text = dahdi.system_conf(load_trunks(TRUNKS))
    lines = [l for l in text.splitlines() if l and not l.startswith("#")]
    assert lines == [
        "span=1,1,0,cas,hdb3,crc4",
        "cas=1-15,17-31:1011",  # China: C,D = 1,1, idle A,B = 1,0
        "echocanceller=oslec,1-15,17-31",
        "span=2,2,0,ccs,hdb3,crc4",
        "bchan=32-46,48-62",
        "hardhdlc=47",
        "echocanceller=oslec,32-46,48-62",
        "loadzone=cn",
        "defaultzone=cn",
    ]


def test_chan_dahdi_conf():
    text = dahdi.chan_dahdi_conf(load_trunks(TRUNKS))
    assert "signalling=mfcr2\nmfcr2_variant=cn\n" in text
    assert "mfcr2_max_dnis=8" in text and "channel => 1-15,17-31" in text
    assert "signalling=pri_cpe\nswitchtype=euroisdn\nchannel => 32-46,48-62" in text


@pytest.mark.parametrize("doc,msg", [
    ("e1: {spans: [{span: 1, protcol: r2-cn}]}", "unknown keys"),
    ("e1: {spans: [{name: x}]}", "needs 'span'"),
    ("e1: {spans: [{span: 1}, {span: 1}]}", "repeat"),
    ("e1: {spans: [{span: 1, timing: 0}, {span: 2, timing: 0}]}", "timing master"),
    ("e1: {spans: [{span: 1, protocol: sip}]}", "protocol"),
    ("e1: {}", "no e1.spans"),
    ("e1: [unclosed", "not valid YAML"),
])
def test_bad_trunk_files_are_refused_with_a_reason(doc, msg):
    with pytest.raises(ConfigError, match=msg):
        load_trunks(doc + "\n")


def test_parse_proc_pri_span():
    p = dahdi.parse_proc_span(PROC_PRI)
    assert (p["span"], p["name"], p["description"]) == (1, "TE2/0/1", "T2XXP (PCI) Card 0 Span 1")
    assert p["master"] and p["line_code"] == "HDB3" and p["framing"] == "CCS" and p["crc4"]
    assert p["alarms"] == ["RED"]
    assert p["counters"] == {"bpv": 3, "crc4_errors": 12, "ebit_errors": 2, "fas_errors": 5, "slips": 1}
    ch = {c["channel"]: c for c in p["channels"]}
    assert ch[1]["in_use"] and ch[1]["signalling"] == "Clear" and ch[1]["alarms"] == ["RED"]
    assert ch[1]["echo_canceller"] == {"name": "OSLEC", "active": False}
    assert ch[16]["signalling"] == "Hardware-assisted HDLC"
    st = dahdi.status_from_proc(PROC_PRI)
    assert st.alarms == ["LOF"] and st.colour == "RED" and st.channels[1] == "alarm"


def test_parse_proc_cas_span():
    p = dahdi.parse_proc_span(PROC_CAS)
    assert p["framing"] == "CAS" and p["crc4"] and p["clock_source"] and p["alarms"] == []
    assert p["counters"] == {}
    ch = {c["channel"]: c for c in p["channels"]}
    assert ch[32]["signalling"] == "CAS" and ch[32]["echo_canceller"]["active"]
    assert ch[47]["signalling"] == "Reserved"
    assert dahdi.status_from_proc(PROC_CAS).colour == "OK"


@pytest.mark.parametrize("text,expect", PROC_PUBLISHED)
def test_parse_published_proc_texts(text, expect):
    p = dahdi.parse_proc_span(text)
    for k, v in expect.items():
        assert p[k] == v, k
    assert p["channels"] and all(isinstance(c["channel"], int) for c in p["channels"])
    if p["name"] == "WPE1/0":
        assert {c["channel"]: c["signalling"] for c in p["channels"]}[16] == "Hardware assisted D-channel"
    if p["name"] == "":
        assert p["channels"][0]["alarms"] == ["RED"] and p["channels"][0]["signalling"] == "FXSKS"


@pytest.mark.parametrize("bad", ["", "Spam 1: x", 'Span 1: X "d" HDB3/CCS WIBBLE\n',
                                 'Span 1: X "d"\n\tBPV count: lots\n'])
def test_proc_parse_errors(bad):
    with pytest.raises(DahdiParseError):
        dahdi.parse_proc_span(bad)


def test_parse_dahdi_scan():
    spans = dahdi.parse_dahdi_scan(DAHDI_SCAN)
    assert [s["span"] for s in spans] == [1, 2, 3]
    s1, s2, s3 = spans
    assert s1["alarms"] == [] and s1["configured"] and s1["framing"] == "CCS/CRC4"
    assert s1["basechan"] == 1 and s1["totchans"] == 31 and s1["framing_opts"] == ["CCS", "CRC4"]
    assert s2["alarms"] == ["RED", "LFA"] and s2["framing"] == "CAS/CRC4" and s2["basechan"] == 32
    assert not s3["configured"] and s3["type"] == "analog"
    assert s3["ports"] == [{"channel": 63, "kind": "FXO"}, {"channel": 64, "kind": "none"}]
    with pytest.raises(DahdiParseError):
        dahdi.parse_dahdi_scan("active=yes\n")
    with pytest.raises(DahdiParseError):
        dahdi.parse_dahdi_scan("[1]\nbasechan=x\n")


def test_ioctl_numbers():
    assert dahdi.IOCTL["SPECIFY"] == 0x4004DA26
    assert dahdi.IOCTL["SET_BLOCKSIZE"] == 0x4004DA01
    assert dahdi.IOCTL["GETEVENT"] == 0x8004DA08
    assert dahdi.IOCTL["SETTXBITS"] == 0x4004DA2B
    assert dahdi.IOCTL["GETRXBITS"] == 0x8004DA2B  # same number, read direction
    assert dahdi.IOCTL["SPANSTAT"] >> 30 == 3 and dahdi.IOCTL["SPANSTAT"] & 0xFF == 10


@pytest.mark.skipif(shutil.which("cc") is None, reason="needs a C compiler: to evaluate <linux/ioctl.h>")
def test_ioctl_numbers_match_the_kernel_header_macros(tmp_path):
    # the same request numbers, computed by the C preprocessor from <linux/ioctl.h>, with
    # structs of the same layout as <dahdi/user.h>
    src = tmp_path / "ioc.c"
    src.write_text(textwrap.dedent("""\
        #include <stdio.h>
        #include <linux/ioctl.h>
        struct si { int a; char n[20]; char d[40]; int v[7]; unsigned int e[5]; int w[7]; char t[4][40];
                    int irq, lc; char st[6]; } __attribute__((packed));
        struct pa { int v[12]; char n[40]; int w[11]; unsigned int al; };
        int main(void) {
          printf("%u %u %u %u %u %u %u\\n", (unsigned)_IOW(0xDA, 38, int), (unsigned)_IOW(0xDA, 1, int),
                 (unsigned)_IOR(0xDA, 8, int), (unsigned)_IOW(0xDA, 43, int), (unsigned)_IOR(0xDA, 43, int),
                 (unsigned)_IOWR(0xDA, 10, struct si), (unsigned)_IOWR(0xDA, 5, struct pa));
          return 0;
        }
        """))
    exe = tmp_path / "ioc"
    subprocess.run(["cc", "-o", str(exe), str(src)], check=True, timeout=60)
    got = [int(x) for x in subprocess.run([str(exe)], capture_output=True, text=True, check=True).stdout.split()]
    I = dahdi.IOCTL
    assert got == [I["SPECIFY"], I["SET_BLOCKSIZE"], I["GETEVENT"], I["SETTXBITS"], I["GETRXBITS"],
                   I["SPANSTAT"], I["GET_PARAMS"]]


def test_event_decoding():
    assert dahdi.decode_event(13) == ("BITSCHANGED", None)
    assert dahdi.decode_event(4) == ("ALARM", None)
    assert dahdi.decode_event(dahdi.EVENT_DTMFDOWN | ord("5")) == ("DTMFDOWN", "5")
    assert dahdi.decode_event(dahdi.EVENT_PULSEDIGIT | ord("#")) == ("PULSEDIGIT", "#")
    assert dahdi.decode_alarms(8 | 4) == ["YELLOW", "RED"]
    with pytest.raises(DahdiParseError):
        dahdi.decode_event(99)


def test_dahdi_backend_without_a_card_says_why(tmp_path):
    cls = backend_class("dahdi")
    with pytest.raises(BackendError, match="DAHDI driver"):
        cls(SpanConfig(), dev=str(tmp_path / "nochannel"))
    with pytest.raises(BackendError, match="unknown span backend"):
        backend_class("isdn4linux")
