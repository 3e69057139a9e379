// The three distractor seed passages of the v1 generator (SPEC.md S1.6), in order.
// The seed's specification does not print them; they were recovered from the complete passages
// inside the L3 distractors of the published benchmark_v1.json and each checked against the
// sha256 and code-point length SPEC.md S1.6 gives (tests/bench re-checks both).
#include "tttmem/bench.h"

namespace tttmem::bench {

const std::array<std::string_view, 3>& distractor_seed_passages() {
  static constexpr std::array<std::string_view, 3> kPassages{
      // 0: 515 code points, sha256 c9c087ae7991eef55c7492207ec5cb51ae9e616e1fa4aa35b5a0e0557984ad60
      R"tttmem(随着深度学习模型规模的不断扩大，训练成本和推理成本同步增长。从GPT-3的1750亿参数到目前主流的万亿级别，硬件资源的瓶颈已经从计算单元逐渐转向了内存带宽和数据传输。研究人员正在探索多种优化方向，包括混合精度训练、张量并行、流水线并行、ZeRO优化器等技术。其中，混合精度训练通过在FP16/BF16和FP32之间灵活切换，可以在保证模型收敛的前提下显著降低显存占用。张量并行则将单个矩阵乘法拆分到多个设备上，适合于Transformer的注意力和前馈层。流水线并行将模型按层切分，相邻设备之间通过激活值传递。ZeRO的核心思想是将优化器状态、梯度、参数分别分片到不同设备，最大化利用集群整体内存。这些技术的组合使用是当前万亿级别模型训练的标准配方。在推理侧，KV缓存管理、推测解码、量化等技术也成为研究热点。FlashAttention通过重新组织注意力计算的内存访问模式，将长上下文场景下的吞吐显著提高。PagedAttention则借鉴了操作系统的虚拟内存思想，将KV缓存分页管理。在量化方面，INT8、INT4甚至更低比特宽度的量化方案不断涌现，配合相应的解量化和重要性度量，可以在精度损失可控的前提下大幅缩减部署成本。)tttmem",
      // 1: 361 code points, sha256 539a099ceed850f6949bbb535e09fc0a2a91f006a1a14fe8e3f08bd431e737a4
      R"tttmem(近年来，量子计算从理论走向工程实现的进程明显加速。超导量子比特、离子阱、光子和拓扑等多种物理实现路径百花齐放。超导路线以其相对成熟的微纳工艺基础，在比特数和保真度上取得了显著进展。IBM、谷歌等公司公布的处理器规模已经突破千比特量级，错误率也在不断下降。离子阱路线则以高保真度和长相干时间见长，在量子化学和优化问题上展现出独特优势。光子量子计算具有室温运行的潜力，在通信和分布式计算领域有应用前景。拓扑量子计算虽然尚未实现工程化的量子比特，但其拓扑保护带来的天然容错性是长期研究方向。在算法层面，量子近似优化算法、变分量子本征求解器、量子机器学习等NISQ时代的应用范式不断完善。在容错量子计算方向，表面码、Bacon-Shor码、彩色码等纠错方案各有侧重。距离量子优势的真正实现还有相当长的路要走，但工程化进度令人鼓舞。)tttmem",
      // 2: 408 code points, sha256 2220c84b0c702230981bb9e5e033c53193d65aa0c928554027c5fd7906194e1a
      R"tttmem(生命科学与人工智能的交叉正在催生新的科研范式。AlphaFold系列工作彻底改变了蛋白质结构预测的格局，原本需要数月甚至数年的实验确定结构的工作现在可以在几小时内完成预测。这一进展直接推动了药物发现、酶工程、合成生物学等下游领域的加速。在基因组学领域，大规模序列模型如Evo、ProtGPT、ESM等开始在基因组语言建模、突变效应预测、功能注释等任务上展现出超越传统方法的能力。在神经科学方向，借助海量神经成像数据训练的基础模型，开始能够从fMRI信号中重建图像和语言。在精准医学方面，多模态生物医学大模型整合临床记录、影像、基因组、代谢组等数据，为个体化诊疗提供决策支持。这些进展的共同特征是数据规模的飞跃和模型架构的通用化。基础模型的"涌现"现象在生命科学领域同样可见——当训练数据和参数规模超过某个临界点，模型会展现出未在训练目标中明确指定的能力。这种"通用智能"在医学领域的实现路径，可能比许多人预想的更近。)tttmem",
  };
  return kPassages;
}

}  // namespace tttmem::bench
