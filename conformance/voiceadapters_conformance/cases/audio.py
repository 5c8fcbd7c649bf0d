"""Family 3: audio — framing and sample conservation both ways, and fidelity.

Every case runs with application formats of 16, 24 and 48 kHz. The session's
converters are deterministic, so "conserved" means exactly equal to a
one-shot streaming conversion of the whole signal, except for zero padding of
the last wire frame when the protocol fixes the frame size.
"""

from __future__ import annotations

from voiceadapters.audio import StreamConverter, best_alignment, echo_similarity, pcm_to_array
from voiceadapters.events import AgentAudio, SessionStarted
from voiceadapters.format import AudioFormat

from ..framework import CaseContext, case
from ..harness import CodecHarness, Harness
from ._util import agent_pcm, has_audio, speech, turn_done

RATES = {"16": 16000, "24": 24000, "48": 48000}
#: Odd chunk durations (ms), cycled: exercises re-framing at every boundary.
CHUNK_MS = (7, 13, 20, 3, 31)


def _convert(pcm: bytes, src: AudioFormat, dst: AudioFormat) -> bytes:
    conv = StreamConverter(src, dst)
    return conv.convert(pcm) + conv.flush()


async def _microphone(h: Harness, ctx: CaseContext, rate: int) -> None:
    fmt = AudioFormat(rate)
    await h.open("echo", app_format=fmt)
    await h.wait_for(lambda ev: any(isinstance(e, SessionStarted) for e in ev), 10)
    pcm = speech(fmt)[: fmt.bytes_for(1.5)]
    sent, i = 0, 0
    while sent < len(pcm):
        size = fmt.bytes_for(CHUNK_MS[i % len(CHUNK_MS)] / 1000)
        await h.send_audio(pcm[sent : sent + size])
        sent += size
        i += 1
    await h.close()
    wire = h.provider.wire_input
    expected = _convert(pcm, fmt, wire)
    received = bytes(h.server.received_audio)
    frame = h.provider.wire_frame_bytes
    if h.media:
        _media_microphone(ctx, expected, received)
        return
    if frame:
        sizes = set(h.server.binary_frame_sizes)
        ctx.check(
            sizes <= {frame}, f"wire frames of {sorted(sizes)} bytes; the protocol wants {frame}"
        )
        padded = -(-len(expected) // frame) * frame
        ctx.check(
            len(received) == padded,
            f"{len(received)} bytes reached the provider; expected {len(expected)} "
            f"padded to {padded}",
        )
        ctx.check(not any(received[len(expected) :]), "padding of the last frame is not silence")
    else:
        ctx.check(
            len(received) == len(expected),
            f"{len(received)} bytes reached the provider; {len(expected)} were sent "
            f"({wire.duration(len(expected) - len(received)) * 1000:+.1f} ms lost)",
        )
    ctx.check(received[: len(expected)] == expected, "the audio that reached the provider differs")


def _media_microphone(ctx: CaseContext, expected: bytes, received: bytes) -> None:
    """Over a media transport the microphone crosses a lossy codec (Opus, in
    WebRTC) and the track runs on between utterances, so equal bytes cannot
    be asked for: the provider's audio must hold all of the conversion, from
    its first sample to its last, with normalized cross-correlation >= 0.9."""
    lag, ncc = best_alignment(pcm_to_array(expected), pcm_to_array(received))
    ctx.note(f"media transport: cross-correlation {ncc:.3f} at {lag} samples")
    ctx.check(ncc >= 0.9, f"the audio that reached the provider matches with {ncc:.3f} < 0.9")
    ctx.check(
        lag >= 0 and lag + len(expected) // 2 <= len(received) // 2,
        f"part of the audio did not reach the provider ({len(received)} bytes, "
        f"{len(expected)} sent, aligned at sample {lag})",
    )


async def _agent(h: Harness, ctx: CaseContext, rate: int) -> None:
    assert isinstance(h, CodecHarness)
    fmt = AudioFormat(rate)
    await h.open("echo", app_format=fmt)
    await h.speak(speech(fmt))
    await h.settle()
    await h.close()
    wire = [e for e in h.codec_events if isinstance(e, AgentAudio)]
    ctx.check(wire, "the agent sent no audio")
    agent = h.server.agent
    if agent is not None and all(e.format == agent.audio_out for e in wire):
        # Ground truth: what the simulator's agent actually spoke. The codec
        # may only add the zero padding of a fixed-size last frame.
        decoded = b"".join(e.pcm for e in wire)
        spoken = bytes(agent.spoken)
        slack = h.provider.wire_frame_bytes or 0
        ctx.check(
            decoded[: len(spoken)] == spoken and len(spoken) <= len(decoded) <= len(spoken) + slack,
            f"the codec decoded {len(decoded)} bytes of agent audio; the agent spoke "
            f"{len(spoken)} (samples lost, invented or altered)",
        )
        ctx.check(not any(decoded[len(spoken) :]), "the codec invented non-silent audio")
    else:
        ctx.note("no scripted agent to compare with: checked the conversion only")
    expected = b""
    # Convert per run of one format, as the session does (a WAV chunk may change it).
    run: list[AgentAudio] = []
    for event in [*wire, None]:
        if run and (
            event is None or event.format != run[0].format or event.turn_id != run[0].turn_id
        ):
            expected += _convert(b"".join(e.pcm for e in run), run[0].format, fmt)
            run = []
        if event is not None:
            run.append(event)
    got = agent_pcm(h.events)
    ctx.check(
        len(got) == len(expected),
        f"the application got {len(got)} bytes of agent audio; the provider sent the "
        f"equivalent of {len(expected)}",
    )
    ctx.check(got == expected, "the agent audio the application got differs from the conversion")
    frame = fmt.bytes_for(0.02)
    sizes = [len(e.pcm) for e in h.events if isinstance(e, AgentAudio)]
    ctx.prefer(all(s == frame for s in sizes[:-1]), "agent audio is not in 20 ms frames")


#: Echo fidelity over a media transport (:func:`voiceadapters.audio.echo_similarity`):
#: energy-envelope correlation and spectral similarity, strict / non-strict.
MEDIA_ENVELOPE = (0.95, 0.9)
MEDIA_SPECTRAL = (0.9, 0.85)
#: Longest wait for the echo to end over a media transport (it plays in real time).
MEDIA_REPLY_WAIT = 30.0


async def _fidelity(h: Harness, ctx: CaseContext, rate: int) -> None:
    fmt = AudioFormat(rate)
    await h.open("echo", app_format=fmt)
    pcm = speech(fmt)
    await h.speak(pcm)
    if h.media:
        # The microphone's media queue still holds up to a second when the
        # last chunk is accepted, and the echo plays in real time: wait for
        # the reply to end rather than for a quiet moment, which a loaded
        # machine can stretch before the reply even starts.
        await h.wait_for(lambda ev: has_audio(ev) and turn_done(ev), MEDIA_REPLY_WAIT)
    await h.settle()
    await h.close()
    got = agent_pcm(h.events)
    ctx.check(got, "the echo agent's reply carried no audio")
    if h.media:
        _media_fidelity(ctx, pcm, got, fmt)
        return
    _, ncc = best_alignment(pcm_to_array(pcm), pcm_to_array(got))
    ctx.note(f"normalized cross-correlation {ncc:.3f}")
    ctx.check(ncc >= 0.8, f"echo cross-correlation {ncc:.3f} < 0.8")
    ctx.prefer(ncc >= 0.9, f"echo cross-correlation {ncc:.3f} < 0.9")


def _media_fidelity(ctx: CaseContext, pcm: bytes, got: bytes, fmt: AudioFormat) -> None:
    """Over a media transport the echo crosses a lossy codec twice (Opus, in
    WebRTC), which keeps the spectrum and the energy envelope but not the
    phase, and the receiver's jitter buffer may stretch time a little: judged
    by :func:`~voiceadapters.audio.echo_similarity` (envelope correlation and
    spectral similarity after alignment within 100 ms); the waveform
    cross-correlation is reported, not judged."""
    sim = echo_similarity(pcm_to_array(pcm), pcm_to_array(got), fmt.sample_rate)
    ctx.note(
        f"media transport: envelope {sim.envelope:.3f}, spectral {sim.spectral:.3f} "
        f"(warp {sim.warp * 1000:.0f} ms); waveform cross-correlation {sim.ncc:.3f}, not judged"
    )
    env_strict, env_min = MEDIA_ENVELOPE
    spec_strict, spec_min = MEDIA_SPECTRAL
    ctx.check(sim.envelope >= env_min, f"echo envelope correlation {sim.envelope:.3f} < {env_min}")
    ctx.check(sim.spectral >= spec_min, f"echo spectral similarity {sim.spectral:.3f} < {spec_min}")
    ctx.prefer(
        sim.envelope >= env_strict, f"echo envelope correlation {sim.envelope:.3f} < {env_strict}"
    )
    ctx.prefer(
        sim.spectral >= spec_strict,
        f"echo spectral similarity {sim.spectral:.3f} < {spec_strict}",
    )


def _register() -> None:
    for n, (label, rate) in enumerate(RATES.items()):

        async def microphone(h: Harness, ctx: CaseContext, rate: int = rate) -> None:
            await _microphone(h, ctx, rate)

        microphone.__doc__ = (
            f"Application audio at {label} kHz, sent in odd chunk sizes, reaches the "
            "provider as exactly the streaming conversion to the wire format (in the "
            "protocol's frame size, only the last frame zero-padded). Over a media "
            "transport (WebRTC: Opus), all of it arrives, with cross-correlation >= 0.9."
        )
        case(f"3.{n + 1}", f"microphone audio conserved at {label} kHz")(microphone)

        async def agent(h: Harness, ctx: CaseContext, rate: int = rate) -> None:
            await _agent(h, ctx, rate)

        agent.__doc__ = (
            f"Every sample of agent audio reaches the application at {label} kHz: the "
            "codec decodes exactly what the simulator's agent spoke (only a fixed-size "
            "last frame may be zero-padded), and the application gets exactly its "
            "streaming conversion, flushed at the turn's end."
        )
        case(f"3.{n + 4}", f"agent audio conserved at {label} kHz", levels=("codec",))(agent)

        async def fidelity(h: Harness, ctx: CaseContext, rate: int = rate) -> None:
            await _fidelity(h, ctx, rate)

        fidelity.__doc__ = (
            f"Speech at {label} kHz through the echo agent comes back with normalized "
            "cross-correlation ≥ 0.9 after alignment (≥ 0.8: non-strict). Over a media "
            "transport (WebRTC: Opus both ways, which keeps spectrum and envelope, not "
            "phase), judged instead by energy-envelope correlation ≥ 0.95 and spectral "
            "similarity ≥ 0.9 after alignment within 100 ms (≥ 0.9 and ≥ 0.85: "
            "non-strict); the waveform cross-correlation is reported only."
        )
        case(f"3.{n + 7}", f"echo fidelity at {label} kHz")(fidelity)


_register()
