// Package ml scores events with machine-learning models: a PMML 4.x
// evaluator for models trained elsewhere (scikit-learn, XGBoost, LightGBM, R,
// SAS, KNIME exported to PMML), and online models that keep learning from
// the stream.
//
// # Loading and scoring
//
// Load or Parse compiles a document once into an immutable Model that knows
// its name (the file's base name without .pmml), its version (the first 12
// hex digits of the document's SHA-256), its inputs, target and outputs.
// A Scorer holds buffers sized at creation: resolve input indexes once with
// Model.InputIndex, set typed values (Num, Str, Bool, Missing) and call
// Score, which allocates nothing in the steady state. Scorers are not safe
// for concurrent use; Models are. Model.Score and ScoreRows are allocating
// conveniences for tests, the CLI and batch checks.
//
// Anything the evaluator does not implement is rejected at load with the
// file, line and element, e.g.
//
//	model.pmml:42: unsupported element <AssociationModel>
//
// so a model is never silently mis-scored. One load reports up to 20 errors.
//
// # Score and Reasons
//
// Result.Score is the number a rule uses: for a binary classification the
// probability of the positive class, which is the class spelled 1, true,
// yes, y or positive (any case) when exactly one of the two is, otherwise
// the second class in the target's DataDictionary order; for a
// classification with more classes, the probability of the predicted class;
// for a regression (and a scorecard), the predicted value; for a clustering
// model, the affinity (distance or similarity) to the chosen cluster. It is
// NaN when the model makes no prediction (Result.OK is false).
//
// Result.Reasons explains the prediction: a scorecard's reason codes ranked
// by points (see below); a tree's predicates on the path to the deciding
// node, root first, rendered like `amount > 500`, `country in {"FR", "DE"}`
// or `device is missing` (a <True/> branch after a comparison reads as the
// negated comparison, e.g. `amount <= 500`); for a MiningModel that picks one segment
// (selectFirst, selectAll, modelChain), that segment's reasons. Ensembles
// that combine many models give none.
//
// # Supported PMML
//
// Documents: PMML 3.x and 4.x with one model; Header, MiningBuildTask,
// Extension, ModelStats, ModelExplanation and ModelVerification are read
// past. DataDictionary DataFields of dataType string, integer, float, double,
// boolean, date, time, dateTime (ISO 8601 text, validated), and the counts
// dateDaysSince[0|1960|1970|1980], timeSeconds and
// dateTimeSecondsSince[0|1960|1970|1980] (numbers; a date text is
// converted), optype continuous, categorical or ordinal, with Value lists
// (property valid, invalid, missing) and Intervals. Values outside a
// field's domain are invalid. Predicates and comparisons on numeric fields
// compare numbers whatever the declared types: an integer field against
// value="70.5" is a comparison.
//
// MiningSchema: usageType active, predicted/target, supplementary (group,
// order and weights are ignored); invalidValueTreatment returnInvalid (an
// InvalidValueError), asIs, asMissing, asValue with
// invalidValueReplacement; missingValueReplacement, missingValueTreatment
// (returnInvalid is a MissingValueError; the others document the
// replacement); outliers asIs, asMissingValues, asExtremeValues with
// lowValue and highValue. Nested models apply their own MiningSchema.
//
// Targets: one Target with min, max, rescaleFactor, rescaleConstant and
// castInteger (round, ceiling, floor) for regressions; TargetValue
// defaultValue and priorProbability when a model has no prediction, and
// displayValue.
//
// Output: OutputField features predictedValue, predictedDisplayValue (a
// cluster's name), probability (of a value, or of the predicted class),
// confidence, transformedValue and decision (an expression over model
// fields and earlier outputs), reasonCode with rank, entityId (the tree
// node's id, the rule's id, the cluster's id, the rank-th neighbour's id),
// affinity and entityAffinity with rank (distance to a neighbour or the
// chosen cluster), clusterAffinity (to the cluster named by value, or the
// chosen one), clusterId (1-based index), with segmentId to read a
// segment's result and dataType casts.
//
// Transformations: TransformationDictionary (DerivedField, DefineFunction
// with ParameterFields) and LocalTransformations, in any order, with cycles
// rejected. Expressions: Constant (with dataType and missing), FieldRef
// (mapMissingTo), NormContinuous (LinearNorm, outliers asIs,
// asMissingValues, asExtremeValues, mapMissingTo), NormDiscrete, Discretize,
// MapValues over an InlineTable, and Apply with mapMissingTo, defaultValue
// and invalidValueTreatment. Built-in functions: + - * / min max sum avg
// median product log10 ln log1p exp expm1 sqrt abs pow threshold floor ceil
// round rint modulo sin cos tan asin acos atan atan2 sinh cosh tanh hypot
// erf stdNormalCDF stdNormalPDF stdNormalIDF normalCDF normalPDF normalIDF
// isMissing isNotMissing isValid isNotValid equal notEqual lessThan
// lessOrEqual greaterThan greaterOrEqual and or not isIn isNotIn if
// uppercase lowercase substring trimBlanks stringLength concat replace
// matches formatNumber dateDaysSinceYear dateSecondsSinceYear
// dateSecondsSinceMidnight. and/or use three-valued logic; other functions
// return missing on a missing argument. substring follows XQuery, whose
// design PMML's functions take: the characters at positions p with
// round(start) <= p < round(start)+round(length), so positions before or
// past the string clamp instead of failing. formatNumber takes a C printf
// pattern with one conversion (d i u o x X e E f F g G; %g without a
// precision prints 6 significant digits as C does). An invalid numeric result (a
// division by zero, ln of a negative) is an ApplyError unless the Apply
// says asMissing or asIs.
//
// RegressionModel: regression (normalizationMethod none, logit, exp,
// probit, cloglog, loglog, cauchit applied to the single table) and
// classification with NumericPredictor (exponent), CategoricalPredictor and
// PredictorTerm. normalizationMethod softmax and simplemax normalise all
// tables; none, logit, probit, cloglog, loglog, cauchit and exp give each
// table's class f(y) and the last table's class the rest, which is the
// binary case; with more classes they need an ordinal target and are read
// as cumulative links. A missing numeric input leaves the model without a
// prediction; a missing categorical input matches no category.
//
// TreeModel: SimplePredicate (all operators; ordinal fields compare by value
// order), SimpleSetPredicate, CompoundPredicate (and, or, xor, surrogate),
// True and False with three-valued logic; missingValueStrategy none,
// lastPrediction, nullPrediction, defaultChild (with missingValuePenalty on
// confidence), weightedConfidence and aggregateNodes; noTrueChildStrategy
// returnNullPrediction and returnLastPrediction; ScoreDistribution with
// probability, or recordCount shares, and confidence.
//
// MiningModel with Segmentation (nested at any depth): multipleModelMethod
// sum, weightedSum, average, weightedAverage, median, weightedMedian, max,
// majorityVote, weightedMajorityVote, selectFirst, selectAll (the first
// matching segment is the result; other segments through segmentId),
// modelChain (each segment's outputs are fields for later segments; the
// last matching segment is the result); missingPredictionTreatment
// returnMissing, skipSegment and continue with missingThreshold. Ties in a
// vote go to the first class in target order; max for a classification
// takes the distribution of the segment with the most confident class.
// Regression tree ensembles with numeric splits (random forests, gradient
// boosting) are walked through a compact layout several trees at a time.
//
// Scorecard: initialScore, Characteristics of Attributes with a predicate
// and partialScore or ComplexPartialScore, useReasonCodes,
// reasonCodeAlgorithm pointsBelow (baseline - partial) and pointsAbove
// (partial - baseline), baselineScore on the Scorecard or the
// Characteristic, reasonCode on the Attribute or the Characteristic;
// baselineMethod is informational. Points of the same reason code add up;
// the codes of the characteristics that scored are ranked by points,
// highest first, ties in document order. A characteristic with no matching
// attribute is a NoAttributeError.
//
// NeuralNetwork: feed-forward layers with activationFunction threshold,
// logistic, tanh, identity, exponential, reciprocal, square, Gauss, sine,
// cosine, Elliott, arctan, rectifier and radialBasis (width, altitude),
// per network, layer or neuron; normalizationMethod none, softmax and
// simplemax; NeuralInputs with any DerivedField expression; NeuralOutputs
// with NormDiscrete (class probabilities), FieldRef or NormContinuous
// (inverted) for regressions. The logistic activation is exact, so a class
// probability of 1.35e-7 stays 1.35e-7; only networks exported by R's pmml
// package (Header Application Rattle/PMML, R-PMML or SoftwareAG PMML
// Generator), which nnet trained with a logistic that saturates to 0 and 1
// beyond ±15, are scored with that saturation.
//
// GeneralRegressionModel: modelType regression, generalLinear,
// generalizedLinear (linkFunction identity, logit, probit, cloglog,
// loglog, cauchit, log, logc, negbin, oddspower and power with
// linkParameter; offsetVariable or offsetValue; trialsVariable or
// trialsValue multiply the mean), multinomialLogistic (softmax against the
// reference category, targetReferenceCategory or the class without
// PCells), ordinalMultinomial (cumulativeLink logit, probit, cloglog,
// loglog, cauchit; per-class intercepts, shared slopes) and CoxRegression
// (survival exp(-H0(t) exp(r - r0)) with Parameter referencePoints,
// BaseCumHazardTables and baselineStrataVariable); FactorList and
// CovariateList predictors, PPMatrix cells (factor levels, covariate
// exponents, products for interactions, per targetCategory) and
// ParamMatrix. A binary generalizedLinear classification gives the other
// class 1 - F(eta) computed without cancellation. Factor contrast
// matrices are rejected. A missing predictor leaves no prediction.
//
// SupportVectorMachineModel: LinearKernelType, PolynomialKernelType,
// RadialBasisKernelType, SigmoidKernelType; a VectorDictionary of
// FieldRef and CategoricalPredictor vector fields with REAL-SparseArray or
// Array instances; svmRepresentation SupportVectors or Coefficients;
// classification one-against-one (each machine votes for targetCategory
// when f(x) < threshold, or > with maxWins, else for
// alternateTargetCategory; the most votes win, ties to the first class in
// target order; probabilities are vote shares), binary (one machine, or
// alternateBinaryTargetCategory) and one-against-all (the smallest f(x)
// wins, the largest with maxWins); regression f(x).
//
// NaiveBayesModel: BayesInputs with PairCounts (P(value|class) as the
// count over the input's total for the class), TargetValueStats with
// GaussianDistribution, PoissonDistribution or UniformDistribution, or a
// DerivedField (Discretize, MapValues, ...) before its PairCounts;
// BayesOutput priors; threshold in place of zero probabilities. Missing
// inputs and values the training never saw are skipped. It is computed in
// log space, so tiny probabilities keep their digits.
//
// ClusteringModel (functionName clustering, modelClass centerBased):
// ComparisonMeasure kind distance with euclidean, squaredEuclidean,
// cityBlock, chebychev, minkowski (p-parameter), or kind similarity with
// simpleMatching, jaccard, tanimoto, binarySimilarity; compareFunction
// absDiff, gaussSim (similarityScale), delta, equal per ClusteringField
// with fieldWeight and isCenterField; MissingValueWeights (a distance over
// the present fields is scaled by the share of the weights they cover).
// The predicted value is the cluster's id (or 1-based index). Distribution
// based models and compareFunction table are rejected.
//
// NearestNeighborModel: TrainingInstances in an InlineTable (isTransformed
// false only when every KNNInput is a DataField), InstanceFields,
// KNNInputs with fieldWeight and compareFunction, the measures above;
// numberOfNeighbors; categoricalScoringMethod majorityVote and
// weightedMajorityVote, continuousScoringMethod average, median and
// weightedAverage (weights 1/(distance + threshold)); ties in distance keep
// table order, ties in votes go to the first class in target order;
// instanceIdVariable names entityId.
//
// RuleSetModel: a RuleSet of SimpleRules and CompoundRules (a compound's
// rules are tried only when its predicate holds; UNKNOWN does not fire)
// scored with the first RuleSelectionMethod: firstHit (the first firing
// rule, its confidence), weightedSum (the class whose firing rules weigh
// most; confidence = that weight over the number of firing rules),
// weightedMax (the heaviest firing rule, its confidence); defaultScore and
// defaultConfidence when none fires. A class's probability is the
// confidence the method gives it; Reasons and entityId name the deciding
// rule.
//
// # Online models
//
// Baseline keeps a per-entity exponentially weighted mean and variance with
// a half-life in event time (or a per-observation alpha) and gives z-scores;
// OnlineLogistic is a logistic regression learnt with FTRL-proximal over
// hashed feature names, ready after a configured number of labels so that
// callers can fall back to a PMML model until then. Time is always an
// argument. Their state has a versioned binary form (MarshalBinary,
// UnmarshalBinary) for the engine's state store.
package ml
