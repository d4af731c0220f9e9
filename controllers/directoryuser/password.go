package directoryuser

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	"github.com/directory-operator/directory-operator/api/v1alpha1"
	"github.com/directory-operator/directory-operator/internal/connection"
	"github.com/directory-operator/directory-operator/internal/ctrlkit"
)

// PasswordKey is the key of the generated password in its Secret.
const PasswordKey = "password"

// InitialPasswordSecretName is the Secret that holds a generated password.
func InitialPasswordSecretName(du *v1alpha1.DirectoryUser) string {
	return du.Name + "-initial-password"
}

// initialPassword returns the password for a new user: from
// spec.password.secretRef, or generated into the owned Secret
// <name>-initial-password, created before the POST and reused by retries
// so the password set in Graph is always the one stored.
func (r *Reconciler) initialPassword(ctx context.Context, du *v1alpha1.DirectoryUser) (string, bool, error) {
	if p := du.Spec.Password; p != nil {
		ref := p.SecretRef
		// Only Secrets labelled for the operator: otherwise whoever may
		// create DirectoryUsers could set any Secret of the namespace as a
		// user's password and sign in to read it.
		sec, err := connection.CredentialSecret(ctx, r.apiReader(), r.apiReader(), du.Namespace, ref.Name)
		var stalled *ctrlkit.StalledError
		if errors.As(err, &stalled) {
			// Creating or labelling the Secret is picked up without a spec change.
			return "", false, ctrlkit.Waiting(30*time.Second, stalled.Reason, "password %s", stalled.Message)
		}
		if err != nil {
			return "", false, fmt.Errorf("reading password Secret %q: %w", ref.Name, err)
		}
		v := sec.Data[ref.Key]
		if len(v) == 0 {
			return "", false, ctrlkit.Waiting(30*time.Second, v1alpha1.ReasonSecretNotFound, "password Secret %q has no key %q", ref.Name, ref.Key)
		}
		return string(v), p.ForceChangeNextSignIn == nil || *p.ForceChangeNextSignIn, nil
	}

	password, err := generatePassword()
	if err != nil {
		return "", false, err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: du.Namespace, Name: InitialPasswordSecretName(du), Labels: map[string]string{
			// The operator's own Secret: in its cache, and usable as a
			// credential reference like any Secret labelled for it.
			v1alpha1.LabelCredential: v1alpha1.LabelCredentialValue,
			v1alpha1.LabelManagedBy:  v1alpha1.ManagedByValue,
		}},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			PasswordKey:         []byte(password),
			"userPrincipalName": []byte(du.Spec.UserPrincipalName),
		},
	}
	if err := controllerutil.SetControllerReference(du, sec, r.Scheme()); err != nil {
		return "", false, err
	}
	err = r.Create(ctx, sec)
	if err == nil {
		return password, true, nil
	}
	if !apierrors.IsAlreadyExists(err) {
		return "", false, fmt.Errorf("creating Secret %q: %w", sec.Name, err)
	}
	// A previous attempt stored a password: use that one.
	existing := &corev1.Secret{}
	if err := r.apiReader().Get(ctx, client.ObjectKeyFromObject(sec), existing); err != nil {
		return "", false, fmt.Errorf("reading Secret %q: %w", sec.Name, err)
	}
	if !metav1.IsControlledBy(existing, du) {
		return "", false, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec,
			"Secret %q exists and is not owned by this DirectoryUser; delete it or set spec.password", sec.Name)
	}
	if len(existing.Data[PasswordKey]) == 0 {
		return "", false, ctrlkit.Stalled(v1alpha1.ReasonInvalidSpec, "Secret %q has no key %q", sec.Name, PasswordKey)
	}
	return string(existing.Data[PasswordKey]), true, nil
}

// Character classes of generated passwords. Entra wants 8–256 characters
// from at least three of the four classes; a generated password has all four.
// Ambiguous characters are left out for people who must type it once.
const (
	lowers  = "abcdefghijkmnopqrstuvwxyz"
	uppers  = "ABCDEFGHJKLMNPQRSTUVWXYZ"
	digits  = "23456789"
	symbols = "!#%*+-=?@_"
)

// passwordLength gives ~120 bits of entropy.
const passwordLength = 20

// generatePassword returns a random password from crypto/rand with at least
// one character of every class.
func generatePassword() (string, error) {
	classes := []string{lowers, uppers, digits, symbols}
	all := lowers + uppers + digits + symbols
	out := make([]byte, 0, passwordLength)
	for _, c := range classes {
		ch, err := randomChar(c)
		if err != nil {
			return "", err
		}
		out = append(out, ch)
	}
	for len(out) < passwordLength {
		ch, err := randomChar(all)
		if err != nil {
			return "", err
		}
		out = append(out, ch)
	}
	// Shuffle so the class-guaranteed characters are not always first.
	for i := len(out) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return "", err
		}
		out[i], out[j.Int64()] = out[j.Int64()], out[i]
	}
	return string(out), nil
}

func randomChar(set string) (byte, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
	if err != nil {
		return 0, fmt.Errorf("generating password: %w", err)
	}
	return set[n.Int64()], nil
}
