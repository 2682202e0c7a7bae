package validator

// Remembered is how many entries the validator keeps in memory about its
// tasks' miners (reports, unreachable times, re-offers).
func (v *Validator) Remembered() int {
	v.progressMu.Lock()
	defer v.progressMu.Unlock()
	return len(v.progress) + len(v.unreachable) + len(v.reoffered)
}
