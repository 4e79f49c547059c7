"""The original notebook's Keras pipeline, copied cell by cell as the baseline.

Every benchmark that compares against "the notebook" runs this code. It is a
faithful copy of the notebook's cells, with only these changes:

- ``input_shape=(50, 50, 1)`` on the first ``Conv2D`` is replaced by a
  ``keras.Input(shape=(50, 50, 1))`` layer (Keras 3 warns about the former; the
  network, its 252,802 parameters and its initialisation are the same);
- the cells are functions, so that a benchmark can time them one by one, and
  the number of samples and epochs are parameters (the defaults are the
  notebook's: 15000 images, 20 epochs);
- :func:`run_notebook` can seed the global random generators first (the
  notebook did not), which makes a benchmark run repeatable without changing
  what the code does: the dataset loop still draws from NumPy's global RNG;
- TensorFlow is imported when the model is built, not at import time, so that
  the dataset loop can be timed without it.

Run it on its own to replay the notebook::

    python benchmarks/notebook_reference.py
"""

import numpy as np
from sklearn.model_selection import train_test_split

IMG_SIZE = 50


# In [16]: 1. Dataset Generation
def dataset(samples=15000, img_size=50):
    images = []
    labels = []
    for _ in range(samples):
        img = np.zeros((img_size, img_size), dtype=np.float32)
        x = np.random.randint(0, img_size)  # noqa: NPY002 - the notebook's global RNG
        y = np.random.randint(0, img_size)  # noqa: NPY002
        img[x, y] = 255
        images.append(img)
        labels.append([x, y])

    return np.array(images), np.array(labels)


# In [37], In [20]: 2. Preprocessing
def preprocess(images):
    # normalize images
    images = images / 255
    images = np.expand_dims(images, axis=-1)
    return images


# In [38]: Train-validation-test split (the test set is x_temp)
def split(images, labels):
    x_train, x_test, y_train, y_test = train_test_split(
        images, labels, test_size=0.3, random_state=1234
    )
    x_val, x_temp, y_val, y_temp = train_test_split(
        x_test, y_test, test_size=0.5, random_state=1234
    )
    return x_train, y_train, x_val, y_val, x_temp, y_temp


# In [49], In [52]: 3. Model Building (CNN)
def build_model():
    from tensorflow import keras
    from tensorflow.keras import layers, models

    model = models.Sequential()

    model.add(keras.Input(shape=(50, 50, 1)))
    model.add(layers.Conv2D(16, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))

    model.add(layers.Conv2D(32, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D((2, 2)))

    model.add(layers.Flatten())

    model.add(layers.Dense(64, activation="relu"))
    model.add(layers.Dense(2))

    model.compile(optimizer="adam", loss="mse", metrics=["mae"])
    return model


# In [53]: 4. Training
def train(model, x_train, y_train, x_val, y_val, *, epochs=20, verbose="auto"):
    history = model.fit(
        x_train,
        y_train,
        validation_data=(x_val, y_val),
        epochs=epochs,
        batch_size=64,
        verbose=verbose,
    )
    return history


# In [57]: 6. Evaluation
def evaluate(model, x_temp, y_temp, *, verbose="auto"):
    test_loss, test_mae = model.evaluate(x_temp, y_temp, verbose=verbose)
    return test_loss, test_mae


def run_notebook(samples=15000, epochs=20, *, seed=None, verbose="auto"):
    """Run the notebook's cells in order; return the model, test set and scores.

    Parameters
    ----------
    samples : int, default=15000
        Number of images generated.
    epochs : int, default=20
        Training epochs.
    seed : int, default=None
        If not None, seed Python's, NumPy's and TensorFlow's global generators
        with ``keras.utils.set_random_seed`` before generating the data.
    verbose : "auto", 0, 1 or 2, default="auto"
        Keras's verbosity for ``fit`` and ``evaluate``.

    Returns
    -------
    result : dict
        ``model``, ``history``, ``x_temp``, ``y_temp``, ``test_loss`` and
        ``test_mae``.
    """
    if seed is not None:
        from tensorflow import keras

        keras.utils.set_random_seed(seed)
    images, labels = dataset(samples)
    images = preprocess(images)
    x_train, y_train, x_val, y_val, x_temp, y_temp = split(images, labels)
    model = build_model()
    history = train(
        model, x_train, y_train, x_val, y_val, epochs=epochs, verbose=verbose
    )
    test_loss, test_mae = evaluate(model, x_temp, y_temp, verbose=verbose)
    return {
        "model": model,
        "history": history,
        "x_temp": x_temp,
        "y_temp": y_temp,
        "test_loss": test_loss,
        "test_mae": test_mae,
    }


if __name__ == "__main__":
    result = run_notebook()
    print("Test Loss", result["test_loss"])
    print("Test MAE", result["test_mae"])
