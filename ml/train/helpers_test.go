package train

import "github.com/crucible-net/crucible/ml/optim"

func newTestOpt(params []*optim.Param) *optim.AdamW {
	return optim.NewAdamW(params, optim.DefaultAdamW())
}
