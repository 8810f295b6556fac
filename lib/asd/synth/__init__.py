"""A deterministic, physically motivated synthetic machine-sound dataset (DCASE 2020 Task 2 layout).

:func:`generate_dataset` writes the development-set layout of DCASE 2020 Task 2::

    <out>/<machine_type>/train/normal_id_XX_NNNNNNNN.wav
    <out>/<machine_type>/test/normal_id_XX_NNNNNNNN.wav
    <out>/<machine_type>/test/anomaly_id_XX_NNNNNNNN.wav
    <out>/dataset.json                                   (manifest, written last)

for the six machine types and their development machine IDs (:data:`asd.config.DEV_MACHINE_IDS`):
16 kHz, mono, 16-bit PCM, 10 s clips (ToyCar 11 s, as in ToyADMOS). ``NNNNNNNN`` is a running
index per (machine type, machine ID, split, label), as DCASE numbers its files.

Every clip is drawn from its own random generator, seeded by ``numpy.random.SeedSequence`` from
(seed, machine type, machine ID, split, label, index) (:func:`clip_rng`), so the files do not
depend on the order in which clips are made or on the number of worker processes: the same
seed gives byte-identical files (on the same platform and NumPy version). Each machine ID has its
own sound "signature" (rotation speed, number of blades, resonances, click timing, background
site, SNR, ...) drawn from (machine type, machine ID) alone, so it is the same machine for every
seed; the seed changes the recordings.

Modules
-------
=================================== ===========================================================
:mod:`asd.synth.signal`             signal primitives: shaped noise, harmonic tones, damped modes,
                                    event trains, the per-clip ``_Clip`` helper
:mod:`asd.synth.rotating`           fan and pump (signature per ID, renderer with its faults)
:mod:`asd.synth.actuators`          slider and valve
:mod:`asd.synth.toys`               ToyCar and ToyConveyor
:mod:`asd.synth.background`         the factory ambience per machine ID, the recording chain's tilt
:mod:`asd.synth.machines`           :func:`generate_clip`, :func:`clip_rng`, :data:`FAULTS`,
                                    :func:`describe_machines`
:mod:`asd.synth.dataset`            :func:`generate_dataset`: plan, parallel writing, manifest,
                                    :data:`GENERATOR_VERSION`
:mod:`asd.synth.years`              the DCASE 2021-2025 layouts (sections, source/target domains
                                    with a domain shift, attribute CSVs, eval-style names and
                                    ground truth): ``generate_dataset(..., format="dcase2023")``
:mod:`asd.synth.published`          the DCASE 2020 baseline's published AUCs on the real
                                    development set: the calibration target, with its source
:mod:`asd.synth.compare`            clip statistics (level, spectrum, tonality, temporal
                                    structure), synthetic beside real
:mod:`asd.synth.inject`             faults of one character each (clicks, tone, level,
                                    modulation) added to real normal recordings
=================================== ===========================================================

How a clip is made
------------------
``machine`` (its normal parts scaled to unit RMS) + the fault's components at a level relative
to it + ``background`` (unit RMS, scaled to the machine ID's SNR +- 1.5 dB), then a gentle
spectral tilt (+-2 dB per decade about 1 kHz, the recording chain) and one gain (the ID's level,
drawn per machine type from where the real clips lie, ``background.LEVEL_DBFS``, +- 2 dB). The gain is computed from
the expected RMS of a *normal* clip, so a
fault adds the energy it adds, which is small next to these variations: faults change the
spectral shape and the temporal pattern (shifted or extra harmonics, new narrow-band components,
changed impulse rates, altered click timing) far more than the loudness. Peaks are kept below
0.95 full scale.

The background is a factory ambience per machine ID: brown plus pink noise with a room
resonance (0.15-0.6 kHz) and a roll-off (3-7 kHz), a distant machine's hum (40-120 Hz, six
harmonics, slowly swelling), and transient events, 0.1-0.3 per second: band-noise bursts
(0.2-1.5 s, centred 0.15-5 kHz; an air blow-off, a passing cart) and distant impacts, each -14 to
-2 dB relative to the ambience. The events make every normal clip's time-frequency image
different in detail.

Each anomalous clip has one fault with a severity ``s`` in [0, 1]; the fault's strength grows
linearly with it from hard to hear (0) to obvious (1). Each machine ID has its own severity
centre (:data:`SEVERITY`, the calibration knob: how hard its anomalies are), and its clips'
severities are spread uniformly about it (:func:`clip_severity`). The fault of the ``i``-th
anomalous test clip of ID ``XX`` is ``FAULTS[type][(i + int(XX)) % len(FAULTS[type])]``.

Machine and fault models
------------------------
Levels in dB are RMS over the clip relative to the normal machine sound (unit RMS); ``s`` is the
severity; ``sd`` a per-clip standard deviation. The SNR (machine to background, dB) is fixed per
machine ID, using MIMII's three values.

=========== ================ ================== ================================================================
type        IDs (SNR dB)     model              [what it mimics] what is synthesised; strength vs severity s
=========== ================ ================== ================================================================
fan         00 (-6)          normal             Rotation 14-24 Hz, 4/5/6/7/9 blades: 25 blade-pass harmonics
            02 (0)                              (0.8-1.6 dB/harmonic, ID-specific ripple) 0..+4 dB over the
            04 (+6)                             airflow; airflow noise (pink-ish + duct resonance 0.5-1.8 kHz
            06 (-6)                             that scales with speed) chopped at blade-pass (AM 0.1-0.3);
                                                motor hum at twice the line frequency. Per clip: speed sd 0.6 %,
                                                drift 0.2 %, component levels sd 1 dB.
                             imbalance          [mass imbalance / loose mounting (MIMII fan: unbalanced)] AM at
                                                rotation rate (depth 0.35s); rotation harmonics 1x-8x plus a
                                                panel knock once per turn (0.3-1.2 kHz modes); -27+30s dB
                             voltage_change     [supply voltage change] speed x(1 +- 0.16s): every
                                                harmonic and the duct resonance move; airflow +-4s dB;
                                                0-16 % speed
                             clogging           [clogged filter / inlet] duct resonance x(1+0.65s) and
                                                narrower; whistle tone 1.2-3.6 kHz with slow wander; -30+30s dB
                             bearing_damage     [outer-race bearing defect] 2.5-6 kHz resonance rung by impacts
                                                at 3-5.2x rotation (2 % jitter); -30+30s dB

pump        00 (+6)          normal             Induction motor (2 or 4 poles, 50/60 Hz, 2-5 % slip); impeller
            02 (-6)                             vane-pass harmonics (5-8 vanes, 2-3 dB/harmonic) -9..-3 dB;
            04 (0)                              motor hum at twice the line frequency -16..-10 dB; fluid noise,
            06 (+6)                             the main part (brown + flow resonance 0.2-0.8 kHz + broad hiss
                                                band 1.5-3 kHz, -2..+4 dB) with turbulent AM (+-20 %). Per clip:
                                                speed sd 0.3 %, flow level sd 1.5 dB, tones sd 1 dB.
                             clogging           [clogged impeller / suction] more load: speed -4s %, vane-
                                                pass harmonics +11s dB, rotation-rate roughness (AM
                                                0.35s); 0..+11 dB tones
                             leakage            [leaking seal] fluctuating jet hiss, band 2-6 kHz (30 % wide);
                                                -34+30s dB
                             contamination      [particles in the fluid] crackle: Poisson impacts 15-60 /s on
                                                1.5-5 kHz modes; -34+30s dB

slider      00 (0)           normal             Steady servo-amplifier tone (0.2-0.6 kHz, 6 harmonics) -3..+3
            02 (+6)                             dB; back-and-forth strokes (cycle 0.9-2.2 s, moving 70-95 % of
            04 (-6)                             each stroke, half-sine speed): servo whine 250-700 Hz
            06 (0)                              proportional to speed, friction noise (0.8-3.5 kHz) -10..-4 dB
                                                proportional to speed, soft end-stop clicks (two damped modes
                                                0.8-4 kHz) -18..-12 dB at each reversal. Per clip: cycle sd 1.5
                                                %, stroke jitter 1 %, levels sd 1 dB.
                             rail_damage        [damaged rail] an impact (3-6 kHz modes) and rattle each time
                                                the carriage passes the dent (same position every stroke);
                                                -28+30s dB
                             no_grease          [lack of grease] friction +8s dB and x(1+0.7s) higher;
                                                stick-slip squeal 1.5-4 kHz on (20+70s) % of strokes; -30+30s dB
                             loose_belt         [loose timing belt] stroke timing jitter 1 % -> (1+13s) %; whine
                                                wobble 5s % at 6-12 Hz; belt slap (0.15-0.4 kHz modes) at
                                                reversals; -30+30s dB

valve       00 (-6)          normal             Solenoid valve cycling every 0.7-1.8 s, open 5-30 % of the
            02 (0)                              cycle: short opening and closing clicks (three damped modes
            04 (+6)                             1.5-6.5 kHz, 1-4 ms), half the IDs with a pilot click; steady
            06 (-6)                             supply-line noise (0.3-1.2 kHz band over a flat floor) 0..+4 dB;
                                                faint flow hiss (2-6 kHz) and 100 Hz buzz while open. Per clip:
                                                cycle sd 1 %, click timing sd 3 ms, click level sd 1 dB.
                             contamination      [debris on the seat (leak, cushioned closing)] leak hiss while
                                                closed; closing click lower (modes x(1-0.3s)), weaker
                                                x(1-0.5s), longer; -38+30s dB
                             irregular_timing   [sticky valve] late actuation (spread 14s % of the cycle),
                                                35s % missed and 35s % repeated actuations; armature
                                                buzz after closing; -28+30s dB
                             extra_clicks       [chattering / debris knocking] spurious clicks (2.8s per s,
                                                modes x1.35) and bounces after each closing; -30+30s dB

ToyCar      01 (0)           normal             Broadband running noise, the main part (wheels, gears, body:
            02 (-6)                             0.12-0.32 kHz resonance plus pink noise, rolling off above 1-2.2
            03 (+6)                             kHz, AM at wheel rate); a few motor lines: 120-220 Hz rotation,
            04 (0)                              16 harmonics (2.5-4 dB/harmonic, every 6th +3-6 dB for the
                                                commutator, body resonance 0.7-1.5 kHz) -12..-6 dB, speed
                                                wandering +-3 % over 2-5 s; gear mesh (8-12 teeth) -18..-12 dB.
                                                Per clip: speed sd 1 %, levels sd 1 dB. 11 s clips.
                             bearing_damage     [bearing damage] noise band 4.5-7.5 kHz pulsed at 2.5-4.2x motor
                                                rotation; -32+30s dB
                             shaft_damage       [bent shaft / axle] speed wobble 4s % and AM 0.5s once
                                                per wheel turn; a knock per wheel turn (0.5-1.5 kHz); -32+30s dB
                             gear_damage        [chipped gear tooth] gear-mesh AM 0.9s once per gear turn
                                                (sidebands); a click per gear turn (2-5 kHz); -31+30s dB
                             excessive_voltage  [over-voltage] speed x(1+0.25s): all harmonics, mesh and rates
                                                move up; 0-25 % speed

ToyConveyor 01 (-6)          normal             Geared motor hum (80-110 Hz, 24 harmonics, 2-3.5 dB/harmonic),
            02 (+6)                             gear-mesh whine (10-19 teeth) -18..-12 dB, belt-seam thump once
            03 (0)                              per belt turn (0.6-1.6 s, 0.1-0.3 kHz), 2-4 rollers ticking at
                                                2-8 Hz (2-5 kHz modes) -24..-16 dB, belt friction noise
                                                (0.15-0.4 kHz, roll-off 1.5 kHz). Per clip: speed sd 1 %, levels
                                                sd 1 dB.
                             belt_damage        [torn belt] a slap (band noise burst 1.5-4 kHz) once per belt
                                                turn plus scraping noise; -32+30s dB
                             pulley_damage      [damaged / eccentric pulley] hum AM 0.5s at the pulley
                                                rate (3-7 Hz) and a metallic clank (3-6 kHz) per pulley turn;
                                                -32+30s dB
                             voltage_change     [supply voltage change] speed x(1 +- 0.22s): hum, mesh,
                                                belt and roller rates move together; 0-22 % speed
=========== ================ ================== ================================================================

The sounds were revised against real DCASE 2020 clips (:mod:`asd.synth.compare`), and the
severity centres are set so that the DCASE 2020 baseline (``dense_ae``) finds the anomalies about
as hard as on the real development set (:mod:`asd.synth.published`); ``docs/synthetic_data.md``
has both comparisons. Results on these sounds are evidence about these sounds, not about the real
recordings.
"""

from .background import SNR_LEVELS
from .dataset import (
    FORMATS,
    GENERATOR_VERSION,
    MANIFEST_NAME,
    SIZES,
    TABLE_COLUMNS,
    YEAR_TABLE_COLUMNS,
    SizeSpec,
    generate_dataset,
    read_manifest,
)
from .machines import (
    CLIP_SECONDS,
    FAULTS,
    SAMPLE_RATE,
    SEVERITY,
    Condition,
    clip_rng,
    clip_severity,
    describe_machines,
    generate_clip,
    severity_centre,
)

__all__ = [
    "CLIP_SECONDS",
    "Condition",
    "FAULTS",
    "FORMATS",
    "YEAR_TABLE_COLUMNS",
    "GENERATOR_VERSION",
    "MANIFEST_NAME",
    "SAMPLE_RATE",
    "SIZES",
    "SNR_LEVELS",
    "TABLE_COLUMNS",
    "SEVERITY",
    "SizeSpec",
    "clip_rng",
    "clip_severity",
    "describe_machines",
    "generate_clip",
    "generate_dataset",
    "read_manifest",
    "severity_centre",
]
