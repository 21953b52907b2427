/**
 * Model of the {@code pggat.dev/v1alpha1} custom resources. The CRD YAML is generated from these classes at build
 * time, so every field carries the description that {@code kubectl explain} shows. Fields are public because the
 * classes are the schema and nothing else: Jackson and the CRD generator read them directly.
 */
package dev.pggat.crds.v1alpha1;
