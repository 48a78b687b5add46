"""The variational autoencoder of lab 09 (keras-io's VAE, Keras 3), as the notebook writes it.

The encoder maps an image to the mean and log-variance of a Gaussian over the latent space; the
*reparameterisation trick* (lecture 000: z = mu + sigma * epsilon, epsilon ~ N(0, 1)) draws z
from it in a way gradients can flow through; the decoder maps z back to an image. The loss is
the reconstruction error plus the KL divergence of the encoder's Gaussian from N(0, 1), computed
in the model's own ``train_step`` and tracked as two metrics.

The classes are registered for ``.keras`` saving so the batch lab's checkpoints reload.
"""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="workbench")
class Sampling(keras.layers.Layer):
    """z = z_mean + exp(0.5 * z_log_var) * epsilon: the reparameterisation trick."""

    def __init__(self, seed=1337, **kwargs):
        super().__init__(**kwargs)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, inputs):
        z_mean, z_log_var = inputs
        epsilon = keras.random.normal(ops.shape(z_mean), seed=self.seed_generator)
        return z_mean + ops.exp(0.5 * z_log_var) * epsilon

    def get_config(self):
        return {**super().get_config(), "seed": self.seed}


def encoder(input_shape=(28, 28, 1), latent_dim=2):
    inputs = keras.Input(shape=input_shape)
    x = keras.layers.Conv2D(32, 3, activation="relu", strides=2, padding="same")(inputs)
    x = keras.layers.Conv2D(64, 3, activation="relu", strides=2, padding="same")(x)
    x = keras.layers.Flatten()(x)
    x = keras.layers.Dense(16, activation="relu")(x)
    z_mean = keras.layers.Dense(latent_dim, name="z_mean")(x)
    z_log_var = keras.layers.Dense(latent_dim, name="z_log_var")(x)
    z = Sampling()([z_mean, z_log_var])
    return keras.Model(inputs, [z_mean, z_log_var, z], name="encoder")


def decoder(latent_dim=2):
    latent_inputs = keras.Input(shape=(latent_dim,))
    x = keras.layers.Dense(7 * 7 * 64, activation="relu")(latent_inputs)
    x = keras.layers.Reshape((7, 7, 64))(x)
    x = keras.layers.Conv2DTranspose(64, 3, activation="relu", strides=2, padding="same")(x)
    x = keras.layers.Conv2DTranspose(32, 3, activation="relu", strides=2, padding="same")(x)
    outputs = keras.layers.Conv2DTranspose(1, 3, activation="sigmoid", padding="same")(x)
    return keras.Model(latent_inputs, outputs, name="decoder")


@keras.saving.register_keras_serializable(package="workbench")
class VAE(keras.Model):
    def __init__(self, encoder, decoder, **kwargs):
        super().__init__(**kwargs)
        self.encoder = encoder
        self.decoder = decoder
        self.total_loss_tracker = keras.metrics.Mean(name="loss")
        self.reconstruction_loss_tracker = keras.metrics.Mean(name="reconstruction_loss")
        self.kl_loss_tracker = keras.metrics.Mean(name="kl_loss")

    @property
    def metrics(self):  # reset by Keras at the start of every epoch
        return [self.total_loss_tracker, self.reconstruction_loss_tracker, self.kl_loss_tracker]

    def call(self, images, training=False):
        z_mean, z_log_var, z = self.encoder(images, training=training)
        return self.decoder(z, training=training)

    def loss_terms(self, images, training=False):
        """Reconstruction loss (binary cross-entropy summed over the pixels) and the KL divergence
        of N(z_mean, exp(z_log_var)) from N(0, 1), each averaged over the batch."""
        z_mean, z_log_var, z = self.encoder(images, training=training)
        reconstruction = self.decoder(z, training=training)
        reconstruction_loss = ops.mean(
            ops.sum(keras.losses.binary_crossentropy(images, reconstruction), axis=(1, 2)))
        kl_loss = -0.5 * (1 + z_log_var - ops.square(z_mean) - ops.exp(z_log_var))
        kl_loss = ops.mean(ops.sum(kl_loss, axis=1))
        return {"reconstruction_loss": reconstruction_loss, "kl_loss": kl_loss}

    def train_step(self, data):
        import tensorflow as tf

        images = data[0] if isinstance(data, tuple) else data
        with tf.GradientTape() as tape:
            terms = self.loss_terms(images, training=True)
            total_loss = terms["reconstruction_loss"] + terms["kl_loss"]
            # Data parallel: every replica sees its share of the global batch and the strategy
            # *sums* the replicas' gradients, so each replica's loss is divided by their number.
            replicas = tf.distribute.get_strategy().num_replicas_in_sync
            scaled_loss = total_loss / replicas
        grads = tape.gradient(scaled_loss, self.trainable_weights)
        self.optimizer.apply_gradients(zip(grads, self.trainable_weights, strict=True))
        return self._track(total_loss, terms)

    def test_step(self, data):
        images = data[0] if isinstance(data, tuple) else data
        terms = self.loss_terms(images)
        return self._track(terms["reconstruction_loss"] + terms["kl_loss"], terms)

    def _track(self, total_loss, terms):
        self.total_loss_tracker.update_state(total_loss)
        self.reconstruction_loss_tracker.update_state(terms["reconstruction_loss"])
        self.kl_loss_tracker.update_state(terms["kl_loss"])
        return {metric.name: metric.result() for metric in self.metrics}

    def get_config(self):
        return {**super().get_config(), "encoder": keras.saving.serialize_keras_object(self.encoder),
                "decoder": keras.saving.serialize_keras_object(self.decoder)}

    @classmethod
    def from_config(cls, config):
        encoder = keras.saving.deserialize_keras_object(config.pop("encoder"))
        decoder = keras.saving.deserialize_keras_object(config.pop("decoder"))
        return cls(encoder, decoder, **config)
