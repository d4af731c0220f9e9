package v1alpha1

// Labels that scope what the operator may read and what it owns. The
// manager's cache only holds Secrets and ConfigMaps carrying them, so an
// unlabelled object is invisible to it, whatever a spec references.
const (
	// LabelCredential marks a Secret a Directory or DirectoryUser may
	// reference (client secret, certificate, CA bundle, initial password).
	// Without it, a user allowed to create Directories but not to read
	// Secrets could send any Secret of the namespace to a host of their
	// choice. The operator sets it on the password Secrets it creates.
	LabelCredential = "entra.directory-operator.io/credential"
	// LabelCredentialValue is the only value LabelCredential counts with.
	LabelCredentialValue = "true"
	// LabelManagedBy marks objects the operator created (password Secrets,
	// export ConfigMaps), with ManagedByValue.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	// ManagedByValue is the operator's value of LabelManagedBy.
	ManagedByValue = "directory-operator"
	// LabelExport names the export a ConfigMap is a shard of. The manager
	// caches only ConfigMaps carrying it.
	LabelExport = "entra.directory-operator.io/export"
)

// Condition reasons of the security rails.
const (
	// ReasonSecretNotLabelled: a referenced Secret exists but lacks
	// LabelCredential=true.
	ReasonSecretNotLabelled = "SecretNotLabelled"
	// ReasonEndpointNotAllowed: a Custom cloud's authorityHost or
	// graphEndpoint is not in the manager's --allowed-custom-hosts.
	ReasonEndpointNotAllowed = "EndpointNotAllowed"
	// ReasonExportConflict: an export's ConfigMap name is taken by a
	// ConfigMap the operator did not create for this resource; it is left
	// untouched.
	ReasonExportConflict = "ExportConflict"
)

// ConditionGroupsExported is False on a Directory whose groups export
// (spec.exports.groups) cannot be written, e.g. ExportConflict. It does not
// affect Ready: users and batches do not need the export.
const ConditionGroupsExported = "GroupsExported"
