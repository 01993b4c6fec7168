"""The dock widget: pick a layer and a restorer, fill in its parameters, run it in a worker thread.

The form is built from the restorer's declared parameters (type, default, range, choices, help): no form is written
per plugin, so a third-party restorer appears with its own parameters as soon as it is installed.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from magicgui.widgets import CheckBox, ComboBox, Container, FloatSpinBox, LineEdit, SpinBox, Widget
from qtpy.QtWidgets import QHBoxLayout, QLabel, QProgressBar, QPushButton, QVBoxLayout, QWidget

from imrestore.params import ParamInfo, format_value

from ._run import Failed, Restored, check_spec, guarded, restorer_names, restorer_params

#: Where a restorer the user has not picked yet starts.
DEFAULT_RESTORER = "n2n-unet"


def param_widget(info: ParamInfo) -> Widget:
    """The form field of one declared parameter: a spin box in its range, a check box, a choice, or text."""
    tooltip = info.help
    label = info.name
    if info.choices:
        return ComboBox(name=info.name, label=label, choices=list(info.choices), value=info.default, tooltip=tooltip)
    if info.type is bool and not info.optional:
        return CheckBox(name=info.name, label=label, value=bool(info.default), tooltip=tooltip)
    if info.type in (int, float) and not info.optional:
        cls = SpinBox if info.type is int else FloatSpinBox
        lo = info.min if info.min is not None else -1e9
        hi = info.max if info.max is not None else 1e9
        kwargs: dict[str, Any] = {"min": lo, "max": hi}
        if cls is FloatSpinBox:
            kwargs["step"] = 10 ** np.floor(np.log10(abs(info.default))) / 10 if info.default else 0.1
        return cls(name=info.name, label=label, value=info.default, tooltip=tooltip, **kwargs)
    # optional values and strings: text, empty for "none" (the restorer's own default)
    text = "" if info.default is None else format_value(info.default)
    return LineEdit(name=info.name, label=label, value=text, tooltip=tooltip + (" (empty: none)" if info.optional else ""))


def form_values(form: Container, infos: list[ParamInfo]) -> dict[str, Any]:
    """The parameters the user changed from their defaults (text as typed: the registry coerces and checks it)."""
    out: dict[str, Any] = {}
    for info in infos:
        value = form[info.name].value
        if isinstance(form[info.name], LineEdit):
            text = str(value).strip()
            default = "" if info.default is None else format_value(info.default)
            if text != default:
                out[info.name] = text if text else "none"
        elif value != info.default:
            out[info.name] = value
    return out


def spec_of(name: str, values: dict[str, Any]) -> str:
    """The spec string of restorer ``name`` with ``values`` (as ``imrestore run`` takes it, shown to the user)."""
    if not values:
        return f"restorer:{name}"
    return f"restorer:{name}:" + ",".join(f"{k}={format_value(v) if not isinstance(v, str) else v}" for k, v in values.items())


class RestoreWidget(QWidget):
    """Restore the selected image layer with any imrestore restorer; the result is added as a new layer."""

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self._cancelled = self._failed = False  # how the running worker ended: by Cancel, by an error
        self.layer_box = ComboBox(label="layer", choices=self._layer_names)
        names = restorer_names()
        self.restorer_box = ComboBox(label="restorer", choices=names, value=DEFAULT_RESTORER if DEFAULT_RESTORER in names else names[0])
        self.form = Container(labels=True)
        self.spec_label = QLabel()
        self.spec_label.setWordWrap(True)
        self.run_button = QPushButton("Restore")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.status = QLabel("")
        self.status.setWordWrap(True)

        layout = QVBoxLayout(self)
        layout.addWidget(Container(widgets=[self.layer_box, self.restorer_box]).native)
        layout.addWidget(self.form.native)
        layout.addWidget(self.spec_label)
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button)
        buttons.addWidget(self.cancel_button)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addStretch()

        self.restorer_box.changed.connect(self._build_form)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.viewer.layers.events.inserted.connect(self._refresh_layers)
        self.viewer.layers.events.removed.connect(self._refresh_layers)
        self._build_form()

    # -- the form --------------------------------------------------------------
    def _layer_names(self, *_: Any) -> list[str]:
        from napari.layers import Image

        return [layer.name for layer in self.viewer.layers if isinstance(layer, Image)]

    def _refresh_layers(self, *_: Any) -> None:
        self.layer_box.reset_choices()

    def _build_form(self, *_: Any) -> None:
        self.form.clear()
        self.infos = restorer_params(self.restorer_box.value)
        for info in self.infos:
            widget = param_widget(info)
            widget.changed.connect(self._show_spec)
            self.form.append(widget)
        self._show_spec()

    @property
    def spec(self) -> str:
        """The restorer as a spec string, with the parameters the form changed."""
        return spec_of(self.restorer_box.value, form_values(self.form, self.infos))

    def _show_spec(self, *_: Any) -> None:
        self.spec_label.setText(self.spec)

    # -- running ---------------------------------------------------------------
    def run(self) -> None:
        """Restore the chosen layer in a worker thread; the result arrives as a new layer."""
        from napari.qt.threading import create_worker

        name = self.layer_box.value
        if name is None:
            self.status.setText("no image layer to restore")
            return
        layer = self.viewer.layers[name]
        spec = self.spec
        problem = check_spec(spec)
        if problem is not None:
            self.status.setText(f"error: {problem}")
            return
        self.worker = create_worker(guarded, np.asarray(layer.data), spec, bool(layer.rgb))
        self.worker.yielded.connect(self._on_step)
        self.worker.finished.connect(self._on_finished)
        self.run_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.status.setText(f"restoring {name} with {spec}")
        self._source, self._spec = layer, spec
        self.worker.start()

    def cancel(self) -> None:
        """Stop after the plane being restored; nothing is added."""
        if self.worker is not None:
            self.worker.quit()
            self._cancelled = True
            self.status.setText("cancelling after this plane")

    def _on_step(self, item) -> None:
        if isinstance(item, Failed):
            self.status.setText(f"error: {item.message}")
            self._failed = True
            return
        if isinstance(item, Restored):
            if not self._cancelled:
                self.add_result(self._source, self._spec, item)
            return
        done, total = item
        self.progress.setMaximum(total)
        self.progress.setValue(done)

    def _on_finished(self) -> None:
        if self._cancelled and not self._failed:
            self.status.setText("cancelled; nothing was added")
        self._cancelled = self._failed = False
        self.worker = None
        self.run_button.setEnabled(True)
        self.cancel_button.setEnabled(False)

    def add_result(self, source, spec: str, result: Restored) -> None:
        """Add the restored layer beside ``source``: the same scale (divided by an up-scaling factor), translate and
        metadata, and the restorer's record; and its std map, where the restorer gives one."""
        scale = np.asarray(source.scale, float).copy()
        if result.scale != 1:
            scale[-2:] /= result.scale
        meta = {**dict(source.metadata), "imrestore": {"spec": spec, "records": result.records}}
        common = {"scale": scale, "translate": source.translate}
        name = f"{source.name} ({spec.split(':')[1]})"
        self.viewer.add_image(result.data, name=name, metadata=meta, rgb=source.rgb, **common)
        for extra, array in result.extras.items():
            self.viewer.add_image(array, name=f"{name} {extra}", colormap="magma", metadata={"imrestore": {"spec": spec}},
                                  rgb=bool(source.rgb) and array.shape == result.data.shape, **common)
        self.status.setText(f"added {name}" + (f" and its {', '.join(result.extras)}" if result.extras else "")
                            + kept_text(result.records))


def kept_text(records: list[dict]) -> str:
    """What the status says where the restorer kept planes as they were (too little noise to remove...): an output
    layer equal to its input is then no surprise.

    >>> kept_text([{"estimated": {"kept": True, "note": "tv: too little noise"}}, {}])
    '; 1 of 2 planes kept as they were (tv: too little noise)'
    """
    kept = [r["estimated"] for r in records if r.get("estimated", {}).get("kept")]
    if not kept:
        return ""
    noun = "plane" if len(records) == 1 else "planes"
    return f"; {len(kept)} of {len(records)} {noun} kept as they were ({kept[0]['note']})"

